//! Headless Chromium for the page tests, driven over WebDriver (chromedriver + fantoccini).
//!
//! Each [`Browser`] is its own chromedriver on a free loopback port with its own Chromium
//! and a fresh profile directory, so tests never share cookies or storage. chromedriver is
//! started in a new process group: dropping the browser (also when a test panics) kills the
//! whole group, Chromium included, and removes the profile.
//!
//! Waits poll a condition with a deadline instead of sleeping.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for something to appear on a page.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn chromium_path() -> String {
    std::env::var("QLINK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

pub fn chromedriver_path() -> String {
    std::env::var("QLINK_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// Phone-sized (the patient pages' target) or desk-sized.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

pub const PHONE: Size = Size { width: 360, height: 740 };
pub const DESK: Size = Size { width: 1280, height: 900 };

/// Where screenshots go: `$CARGO_TARGET_DIR/page-shots` (or target/page-shots).
pub fn shots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let dir = PathBuf::from(target).join("page-shots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group; Chromium and its helpers are in it.
        let pgid = self.child.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub struct Browser {
    pub client: Client,
    pub name: String,
    _driver: Driver,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().unwrap().port()
}

impl Browser {
    /// A browser whose Accept-Language is English.
    pub async fn start(name: &str, size: Size) -> Browser {
        Browser::start_with_language(name, size, "en-US,en").await
    }

    pub async fn start_with_language(name: &str, size: Size, accept_language: &str) -> Browser {
        let port = free_port();
        let profile = std::env::temp_dir().join(format!(
            "qlink-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let child = Command::new(chromedriver_path())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (apt-get install chromium-driver)", chromedriver_path()));
        let driver = Driver { child, profile: profile.clone() };

        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            // Two windows of one test (patient and desk) must both keep their timers running.
            "--disable-background-timer-throttling".into(),
            "--disable-renderer-backgrounding".into(),
            "--disable-backgrounding-occluded-windows".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", size.width, size.height),
        ];
        let caps = json!({
            "browserName": "chrome",
            // An alert opened by injected script must stay open for the test to see it.
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": chromium_path(),
                "args": args,
                "prefs": { "intl.accept_languages": accept_language },
            },
        });
        let mut caps = caps;
        if size.width < 500 {
            // Headless windows have a minimum width above a phone's: emulate the phone's
            // viewport (and touch) exactly instead.
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({ "deviceMetrics": { "width": size.width, "height": size.height, "pixelRatio": 1.0, "touch": true, "mobile": true } });
        }
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session: {e}"));
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(0)),
            ))
            .await
            .expect("timeouts");
        Browser { client, name: name.to_string(), _driver: driver }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("[{}] open {url}: {e}", self.name));
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("current url").to_string()
    }

    /// Runs a script (its `return` value comes back) with `arguments[0..]`.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("[{}] script failed: {e}\n{script}", self.name))
    }

    /// The text content of the first element matching `css` ("" if none).
    pub async fn text(&self, css: &str) -> String {
        self.js("var e = document.querySelector(arguments[0]); return e ? e.textContent : '';", vec![json!(css)])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether an element is on the page and shown (not inside anything `hidden`).
    pub async fn visible(&self, css: &str) -> bool {
        self.js(
            "var e = document.querySelector(arguments[0]); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;",
            vec![json!(css)],
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    pub async fn click(&self, css: &str) {
        // A live page may replace the element between finding and clicking it (a list
        // that was redrawn): find it again, a few times.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let element =
                self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("[{}] find {css}: {e}", self.name));
            match element.click().await {
                Ok(()) => return,
                Err(e) if attempts < 5 && e.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("[{}] click {css}: {e}", self.name),
            }
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("[{}] find {css}: {e}", self.name));
        element.clear().await.unwrap_or_else(|e| panic!("[{}] clear {css}: {e}", self.name));
        element.send_keys(value).await.unwrap_or_else(|e| panic!("[{}] type into {css}: {e}", self.name));
    }

    /// Presses a key on the page (as a keyboard would, to the focused element or body).
    pub async fn press(&self, key: &str) {
        let body = self.client.find(Locator::Css("body")).await.expect("body");
        body.send_keys(key).await.unwrap_or_else(|e| panic!("[{}] press {key}: {e}", self.name));
    }

    /// Polls `condition` (a JS expression) until it is truthy.
    pub async fn wait_until(&self, what: &str, condition: &str) {
        let deadline = Instant::now() + WAIT;
        let script = format!("return !!({condition});");
        loop {
            if let Ok(v) = self.client.execute(&script, vec![]).await {
                if v.as_bool() == Some(true) {
                    return;
                }
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("FAILED-{}", sanitize(what))).await;
                panic!("[{}] timed out waiting for {what} ({condition}); screenshot {}", self.name, shot.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element's text contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("FAILED-{}", sanitize(css))).await;
                panic!(
                    "[{}] timed out waiting for {needle:?} in {css}; it says {text:?}; screenshot {}",
                    self.name,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts the page fits the window: no sideways scrolling, no zoomed-out layout (on a
    /// phone, content wider than the screen makes the browser shrink the whole page).
    pub async fn assert_fits(&self, width: u32) {
        let v = self.js("return [window.innerWidth, document.documentElement.scrollWidth];", vec![]).await;
        let (inner, scroll) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        if inner != u64::from(width) || scroll > inner {
            let shot = self.screenshot("FAILED-too-wide").await;
            panic!(
                "[{}] the page is {scroll}px wide in a {inner}px layout for a {width}px screen; screenshot {}",
                self.name,
                shot.display()
            );
        }
    }

    /// Waits until an element is shown.
    pub async fn wait_visible(&self, css: &str) {
        self.wait_until(&format!("{css} visible"), &format!(
            "(function(){{var e = document.querySelector({}); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;}})()",
            json!(css)
        ))
        .await;
    }

    /// The text of an open alert/confirm/prompt dialog, if one is open.
    pub async fn open_dialog(&self) -> Option<String> {
        self.client.get_alert_text().await.ok()
    }

    /// Lays the page out as it prints (CSS print media, through Chromium's DevTools
    /// protocol: WebDriver has no command for it). It stays so across navigations.
    pub async fn emulate_print(&self) {
        let cmd = Cdp { cmd: "Emulation.setEmulatedMedia", params: json!({ "media": "print" }) };
        self.client.issue_cmd(cmd).await.unwrap_or_else(|e| panic!("[{}] print media: {e}", self.name));
    }

    /// The viewport as greyscale pixels (width, height, one byte each): for reading a QR code.
    pub async fn grey_screenshot(&self) -> (usize, usize, Vec<u8>) {
        let png = self.client.screenshot().await.expect("screenshot");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let channels = info.color_type.samples();
        let (w, h) = (info.width as usize, info.height as usize);
        let grey = (0..w * h)
            .map(|i| {
                let (y, x) = (i / w, i % w);
                let p = &buf[y * info.line_size + x * channels..];
                if channels >= 3 {
                    ((u32::from(p[0]) * 30 + u32::from(p[1]) * 59 + u32::from(p[2]) * 11) / 100) as u8
                } else {
                    p[0]
                }
            })
            .collect();
        (w, h, grey)
    }

    /// Saves a PNG screenshot under [`shots_dir`] and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = shots_dir().join(format!("{}-{}.png", sanitize(&self.name), sanitize(name)));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// Ends the session cleanly (the drop that follows kills anything left).
    pub async fn close(self) {
        let Browser { client, _driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(_driver);
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(60).collect()
}

/// A Chrome DevTools Protocol command, sent through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}
