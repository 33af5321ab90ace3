//! Databases, seed data, the in-process server and the baselines (which exist only here).

use axum::extract::{Path, State};
use axum::routing::get;
use deadpool_postgres::Pool;
use qlink_server::app::Application;
use qlink_server::config::{Config, DbArgs, HttpArgs, WorkerArgs};
use std::str::FromStr;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

fn db_url(admin_url: &str, db: &str) -> String {
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
    format!("{base}/{db}")
}

/// Drops and recreates `name`, migrated, with the extension.
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let admin = connect(admin_url).await?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    let url = db_url(admin_url, name);
    qlink_server::migrate::run(&url).await?;
    // The benchmarks message thousands of new patients from the installation's number: an
    // account at Meta's top tier, not the 250 a new number starts with.
    connect(&url).await?.batch_execute("SELECT qlink.set_recipient_limit('installation', 1000000)").await?;
    Ok(url)
}

pub fn pool(url: &str, size: usize) -> anyhow::Result<Pool> {
    qlink_server::db::pool(tokio_postgres::Config::from_str(url)?, size)
}

/// `n` clinics, each with today's session and `tokens_each` waiting patients (bulk-loaded:
/// seeding is not what is measured).
pub async fn clinics(owner: &Client, n: usize, tokens_each: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id: Uuid = owner
            .query_one(
                "SELECT qlink.create_business($1, $2, settings => '{\"daily_token_limit\": 10000, \
                 \"max_tokens_per_phone_per_day\": 50, \"ip_tokens_per_10min\": 10000, \
                 \"daily_message_limit\": 100000}')",
                &[&format!("bench-{i}"), &format!("Bench clinic {i}")],
            )
            .await?
            .get(0);
        // Opens today's session the normal way.
        owner.query_one("SELECT * FROM qlink.close_session($1)", &[&id]).await?;
        owner.query_one("SELECT * FROM qlink.reset_session($1)", &[&id]).await?;
        ids.push(id);
    }
    if tokens_each > 0 {
        owner
            .execute(
                "INSERT INTO qlink.tokens (session_id, business_id, token_number, patient_name, patient_phone, \
                     reminder_queued, joined_people_ahead, queue_id, token_label, line_seq, line_at, day) \
                 SELECT s.id, s.business_id, g, 'Patient ' || g, \
                        '+919' || lpad(((row_number() OVER ()) % 1000000000)::text, 9, '0'), false, g - 1, \
                        s.queue_id, g::text, g, now() + make_interval(secs => g / 1e6), s.date \
                 FROM qlink.sessions s, generate_series(1, $1::int) g",
                &[&(tokens_each as i32)],
            )
            .await?;
        owner
            .execute(
                "UPDATE qlink.sessions SET last_token_number = $1, waiting_count = $1, last_line_seq = $1, \
                     last_line_at = now() + make_interval(secs => $1::int / 1e6)",
                &[&(tokens_each as i32)],
            )
            .await?;
    }
    owner.batch_execute("VACUUM ANALYZE").await?;
    Ok(ids)
}

/// The baselines: plain PL/pgSQL doing the same essential work as the product, without its
/// rules (no audit trail, no undo snapshot, no reminders, no ETA learning, no checks).
pub async fn install_baselines(owner: &Client) -> anyhow::Result<()> {
    owner
        .batch_execute(
            r#"
CREATE SCHEMA IF NOT EXISTS bench;
CREATE OR REPLACE FUNCTION bench.next(p_business uuid) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  v_session uuid;
  v_next record;
BEGIN
  SELECT id INTO v_session FROM qlink.sessions
   WHERE business_id = p_business AND date = (now() AT TIME ZONE 'Asia/Kolkata')::date FOR UPDATE;
  UPDATE qlink.tokens SET status = 'SERVED', previous_status = 'SERVING', served_at = now()
   WHERE session_id = v_session AND status = 'SERVING';
  UPDATE qlink.tokens SET status = 'SERVING', previous_status = 'WAITING', called_at = now(),
         room_id = (SELECT id FROM qlink.rooms WHERE business_id = p_business LIMIT 1)
   WHERE id = (SELECT id FROM qlink.tokens WHERE session_id = v_session AND status = 'WAITING'
               ORDER BY is_priority DESC, line_seq LIMIT 1)
   RETURNING id, token_number, patient_phone INTO v_next;
  UPDATE qlink.sessions SET now_serving_number = v_next.token_number, updated_at = now() WHERE id = v_session;
  IF v_next.id IS NOT NULL THEN
    INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone)
    VALUES (p_business, v_next.id, 'CALLED', v_next.patient_phone);
  END IF;
  RETURN v_next.token_number;
END $$;
CREATE OR REPLACE FUNCTION bench.create(p_business uuid, p_name text, p_phone text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  v_session uuid;
  v_queue uuid;
  v_number int;
  v_seq int;
  v_token uuid;
BEGIN
  UPDATE qlink.sessions SET last_token_number = last_token_number + 1, last_line_seq = last_line_seq + 1,
         updated_at = now()
   WHERE business_id = p_business AND date = (now() AT TIME ZONE 'Asia/Kolkata')::date
   RETURNING id, queue_id, last_token_number, last_line_seq INTO v_session, v_queue, v_number, v_seq;
  INSERT INTO qlink.tokens (session_id, business_id, token_number, patient_name, patient_phone, queue_id,
                            token_label, line_seq, line_at, day)
  VALUES (v_session, p_business, v_number, p_name, p_phone, v_queue, v_number::text, v_seq, now(),
          (now() AT TIME ZONE 'Asia/Kolkata')::date) RETURNING id INTO v_token;
  INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone)
  VALUES (p_business, v_token, 'WELCOME', p_phone);
  RETURN v_number;
END $$;
"#,
        )
        .await?;
    Ok(())
}

#[derive(Clone, Copy)]
pub enum Next {
    Baseline,
    Product,
    /// What the server does: NOTIFY in its own statement once the action committed.
    ProductNotifyAfter,
    /// The design we rejected: NOTIFY inside the queue transaction.
    ProductNotifyInside,
}

pub async fn next(pool: &Pool, clinic: Uuid, variant: Next) -> anyhow::Result<()> {
    let mut db = pool.get().await?;
    match variant {
        Next::Baseline => {
            let s = db.prepare_cached("SELECT bench.next($1)").await?;
            db.query_one(&s, &[&clinic]).await?;
        }
        Next::Product | Next::ProductNotifyAfter => {
            let s = db.prepare_cached("SELECT * FROM qlink.queue_action($1, 'NEXT')").await?;
            db.query_one(&s, &[&clinic]).await?;
            if matches!(variant, Next::ProductNotifyAfter) {
                db.batch_execute("NOTIFY qlink_messages").await?;
            }
        }
        Next::ProductNotifyInside => {
            let tx = db.transaction().await?;
            let s = tx.prepare_cached("SELECT * FROM qlink.queue_action($1, 'NEXT')").await?;
            tx.query_one(&s, &[&clinic]).await?;
            tx.batch_execute("NOTIFY qlink_messages").await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

pub async fn create(pool: &Pool, clinic: Uuid, client: usize, i: u64, product: bool) -> anyhow::Result<()> {
    let db = pool.get().await?;
    let phone = format!("9{:09}", (client as u64 * 100_000_000 + i) % 1_000_000_000);
    if product {
        let ip: std::net::IpAddr =
            std::net::Ipv4Addr::from((0x0A00_0000u32) | ((client as u32) << 16) | (i as u32 & 0xFFFF)).into();
        let s = db.prepare_cached("SELECT token_number FROM qlink.create_token($1, 'Patient', $2, 'QR', $3)").await?;
        db.query_one(&s, &[&clinic, &phone, &ip]).await?;
    } else {
        let s = db.prepare_cached("SELECT bench.create($1, 'Patient', $2)").await?;
        db.query_one(&s, &[&clinic, &format!("+91{phone}")]).await?;
    }
    Ok(())
}

pub struct Server {
    pub base: String,
    stop: CancellationToken,
}

impl Server {
    pub fn stop(self) {
        self.stop.cancel();
    }
}

/// One prepared single-row SELECT through the same axum + deadpool + middleware stack.
async fn baseline(State(pool): State<Pool>, Path(id): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(id) = Uuid::parse_str(&id) else { return axum::http::StatusCode::NOT_FOUND.into_response() };
    let Ok(db) = pool.get().await else { return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let Ok(stmt) = db.prepare_cached("SELECT token_number, status FROM qlink.tokens WHERE id = $1").await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match db.query_opt(&stmt, &[&id]).await {
        Ok(Some(r)) => {
            axum::Json(serde_json::json!({"token_number": r.get::<_, i32>(0), "status": r.get::<_, String>(1)}))
                .into_response()
        }
        Ok(None) => axum::http::StatusCode::NOT_FOUND.into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The product's router (as `qlink serve` runs it, without the worker) plus the baseline
/// route, behind the same middleware, on a loopback port.
pub async fn serve_with_baseline(db: &str) -> anyhow::Result<Server> {
    // Every client of a benchmark comes from one load generator: no per-address cap.
    serve_with_limits(db, 10, 2048, 2048).await
}

/// [`serve_with_baseline`] with this header timeout (seconds), connection cap, and cap per
/// address.
pub async fn serve_with_limits(
    db: &str,
    header_timeout_secs: u64,
    max_connections: usize,
    max_connections_per_ip: usize,
) -> anyhow::Result<Server> {
    let config = Config {
        db: DbArgs {
            database_url: db.to_string(),
            app_database_url: None,
            worker_database_url: None,
            webhook_database_url: None,
            read_database_url: None,
            pool_size: 16,
        },
        http: HttpArgs {
            bind: "127.0.0.1:0".parse()?,
            public_url: None,
            trusted_proxies: vec![],
            session_ttl_hours: 12,
            header_timeout_secs,
            max_connections,
            max_connections_per_ip,
            metrics_bind: None,
        },
        whatsapp: qlink_tests::app::no_whatsapp(),
        worker: WorkerArgs::default(),
    };
    // Same pool size; the owner role, since the runtime role cannot read tables at all.
    let baseline_pool = pool(db, 16)?;
    let baseline_routes = axum::Router::new().route("/baseline/{id}", get(baseline)).with_state(baseline_pool);
    let extra = axum::Router::new().nest_service("/bench", baseline_routes);
    let application = Application::build_with(&config, extra).await?;
    let addr = application.local_addr();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = application.run_until_stopped(s).await;
    });
    Ok(Server { base: format!("http://{addr}"), stop })
}
