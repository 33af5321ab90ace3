//! The patient-facing words, in English and Hindi: one table, so a translator reviews one
//! file and no page can show a key that does not exist (keys are an enum, checked by the
//! compiler). Placeholders are `{name}`; pages fill them with [`Lang::tf`] on the server or
//! the same way in JavaScript (the strings a script needs travel in a `data-i18n` attribute).

use axum::http::HeaderMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Hi,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "hi" => Some(Lang::Hi),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Hi => "hi",
        }
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Hi,
            Lang::Hi => Lang::En,
        }
    }

    /// The language's own name, shown on the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Hi => "हिन्दी",
        }
    }

    pub fn t(self, key: K) -> &'static str {
        match self {
            Lang::En => key.en(),
            Lang::Hi => key.hi(),
        }
    }

    /// `t` with `{name}` placeholders filled in.
    pub fn tf(self, key: K, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// The given keys as a JSON object `{key: text}` for a page script.
    pub fn json(self, keys: &[K]) -> String {
        let map: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|k| (k.name().to_string(), serde_json::Value::from(self.t(*k)))).collect();
        serde_json::Value::Object(map).to_string()
    }

    /// The page language: an explicit choice (`?lang=`), else the browser's
    /// Accept-Language, else the given default (the clinic's or the token's).
    pub fn choose(explicit: Option<&str>, headers: &HeaderMap, default: Lang) -> Lang {
        explicit
            .and_then(Lang::parse)
            .or_else(|| crate::http::public::language_from_headers(headers).as_deref().and_then(Lang::parse))
            .unwrap_or(default)
    }
}

macro_rules! catalogue {
    ($($key:ident => $en:expr, $hi:expr;)*) => {
        /// A message key.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum K { $($key),* }

        impl K {
            pub const ALL: &'static [K] = &[$(K::$key),*];

            pub fn name(self) -> &'static str {
                match self { $(K::$key => stringify!($key)),* }
            }
            pub fn en(self) -> &'static str {
                match self { $(K::$key => $en),* }
            }
            pub fn hi(self) -> &'static str {
                match self { $(K::$key => $hi),* }
            }
        }
    };
}

catalogue! {
    // Shared
    app_name => "QLink", "QLink";
    switch_language => "Language", "भाषा";
    now_serving => "Now serving", "अभी बुलाया गया";
    nobody_serving => "—", "—";
    waiting_count => "{n} waiting", "{n} इंतज़ार में";
    token => "Token", "टोकन";
    footer_note => "Clinic queue by QLink", "क्लिनिक कतार — QLink";

    // Intake
    intake_title => "Join the queue", "कतार में शामिल हों";
    intake_lead => "Get a token and wait comfortably. We'll tell you when it's your turn.",
        "टोकन लें और आराम से इंतज़ार करें। आपकी बारी आने पर हम आपको बताएँगे।";
    name_label => "Your name", "आपका नाम";
    phone_label => "Mobile number", "मोबाइल नंबर";
    phone_hint => "10-digit mobile number", "10 अंकों का मोबाइल नंबर";
    consent => "We'll send WhatsApp updates about your visit to this number.",
        "हम इस नंबर पर आपकी विज़िट की जानकारी WhatsApp पर भेजेंगे।";
    join_button => "Get my token", "मेरा टोकन लें";
    joining => "Getting your token…", "आपका टोकन बन रहा है…";
    existing_token => "You already have token {n} here today.", "आज यहाँ आपका टोकन {n} पहले से है।";
    track_my_token => "Track my token", "मेरा टोकन देखें";
    err_name => "Please enter your name (up to 80 letters).", "कृपया अपना नाम लिखें (80 अक्षरों तक)।";
    err_phone => "Please enter a valid 10-digit mobile number.", "कृपया 10 अंकों का सही मोबाइल नंबर लिखें।";
    err_generic => "Something went wrong. Please try again.", "कुछ गड़बड़ हो गई। कृपया दोबारा कोशिश करें।";
    err_unavailable => "The service is briefly unavailable. Please try again in a moment.",
        "सेवा कुछ देर के लिए उपलब्ध नहीं है। कृपया थोड़ी देर में फिर कोशिश करें।";
    err_offline => "No internet connection. Please check your connection and try again.",
        "इंटरनेट कनेक्शन नहीं है। कृपया कनेक्शन जाँचें और फिर कोशिश करें।";
    closed_title => "Today's queue is closed", "आज की कतार बंद है";
    closed_body => "The clinic is not giving tokens online right now. Please ask at the reception.",
        "क्लिनिक अभी ऑनलाइन टोकन नहीं दे रहा है। कृपया रिसेप्शन पर पूछें।";
    suspended_title => "Online tokens are not available", "ऑनलाइन टोकन उपलब्ध नहीं हैं";
    suspended_body => "This clinic is not taking patients through QLink right now. Please ask at the reception.",
        "यह क्लिनिक अभी QLink से मरीज़ नहीं ले रहा है। कृपया रिसेप्शन पर पूछें।";
    limit_title => "Please wait a little", "कृपया थोड़ा रुकें";
    limit_network => "Too many tokens were taken from this network. Please wait a few minutes or ask at the reception.",
        "इस नेटवर्क से बहुत सारे टोकन लिए जा चुके हैं। कृपया कुछ मिनट रुकें या रिसेप्शन पर पूछें।";
    limit_daily_title => "Today's tokens are finished", "आज के टोकन खत्म हो गए";
    limit_daily => "The clinic has given out all of today's tokens. Please ask at the reception.",
        "क्लिनिक आज के सभी टोकन दे चुका है। कृपया रिसेप्शन पर पूछें।";
    already_title => "This mobile number already has a token today", "इस मोबाइल नंबर पर आज पहले से टोकन है";
    already_yours => "Your token from this phone: {n}", "इस फ़ोन से लिया गया आपका टोकन: {n}";
    already_lost => "Lost the link? It is in your WhatsApp messages, or ask at the reception.",
        "लिंक खो गया? वह आपके WhatsApp संदेशों में है, या रिसेप्शन पर पूछें।";
    back_to_form => "Back", "वापस";
    choose_line => "Choose your doctor", "अपना डॉक्टर चुनें";
    line_wait => "{n} waiting · about {lo}–{hi} min", "{n} इंतज़ार में · लगभग {lo}–{hi} मिनट";
    line_no_wait => "Nobody waiting: you would be next", "कोई इंतज़ार में नहीं: अगली बारी आपकी होगी";
    line_inactive => "Not seeing patients today", "आज मरीज़ नहीं देख रहे";
    line_closed => "Closed for today", "आज के लिए बंद";
    line_full => "Today's tokens are finished", "आज के टोकन खत्म हो गए";
    line_unavailable => "Not taking online tokens now", "अभी ऑनलाइन टोकन नहीं ले रहे";
    err_pick_line => "Please choose a doctor.", "कृपया एक डॉक्टर चुनें।";
    join_whatsapp => "Join on WhatsApp", "WhatsApp पर जुड़ें";
    join_whatsapp_hint => "Or get your token in a WhatsApp chat: the message is typed in for you, just send it.",
        "या WhatsApp चैट में टोकन लें: संदेश पहले से लिखा होगा, बस भेज दें।";
    stop_whatsapp => "Reply STOP to stop WhatsApp messages from this clinic.",
        "इस क्लिनिक के WhatsApp संदेश बंद करने के लिए STOP (या रोकें) लिखकर भेजें।";

    // Not found / errors
    notfound_title => "Page not found", "पेज नहीं मिला";
    notfound_body => "This link is not valid. Check the link in your WhatsApp message, or scan the clinic's QR code again.",
        "यह लिंक सही नहीं है। अपने WhatsApp संदेश का लिंक देखें, या क्लिनिक का QR कोड फिर से स्कैन करें।";
    error_title => "Something went wrong", "कुछ गड़बड़ हो गई";

    // Tracking
    your_token => "Your token", "आपका टोकन";
    your_line => "Doctor / line", "डॉक्टर / कतार";
    go_to_room => "Please go to {room}", "कृपया {room} में जाएँ";
    st_waiting => "Waiting", "इंतज़ार में";
    st_serving => "It's your turn", "आपकी बारी है";
    st_serving_body => "Please go in to the doctor now.", "कृपया अभी डॉक्टर के पास जाएँ।";
    st_served => "Visit complete", "आपकी विज़िट पूरी हुई";
    st_served_body => "Thank you for visiting. Get well soon!", "आने के लिए धन्यवाद। जल्दी ठीक हो जाइए!";
    st_skipped => "You missed your turn", "आपकी बारी निकल गई";
    st_skipped_body => "Please speak to the reception: they can call you back in.",
        "कृपया रिसेप्शन पर बात करें: वे आपको फिर से बुला सकते हैं।";
    st_cancelled => "Token cancelled", "टोकन रद्द हो गया";
    st_cancelled_body => "You are no longer in the queue.", "अब आप कतार में नहीं हैं।";
    position => "Your place in the queue", "कतार में आपका स्थान";
    people_ahead => "{n} people ahead of you", "आपसे पहले {n} लोग";
    one_ahead => "1 person ahead of you", "आपसे पहले 1 व्यक्ति";
    you_are_next => "You're next", "अगली बारी आपकी है";
    eta => "about {lo}–{hi} min", "लगभग {lo}–{hi} मिनट";
    eta_soon => "any minute now", "बस कुछ ही देर में";
    eta_label => "Estimated wait", "अनुमानित इंतज़ार";
    progress_label => "Your progress to the front", "आगे तक पहुँचने की प्रगति";
    shift_alert => "A priority case was added. Your position shifted by {n}.",
        "एक प्राथमिकता वाला मरीज़ जोड़ा गया। आपका स्थान {n} पीछे हो गया।";
    dismiss => "OK", "ठीक है";
    keep_open => "Keep this page open: it updates by itself. We'll also message you on WhatsApp.",
        "यह पेज खुला रखें: यह अपने-आप अपडेट होता है। हम आपको WhatsApp पर भी संदेश भेजेंगे।";
    offline => "You're offline. This page will update when you're back online.",
        "आप ऑफ़लाइन हैं। इंटरनेट लौटते ही यह पेज अपडेट होगा।";
    updated_at => "Updated {time}", "अपडेट: {time}";
    intake_closed_note => "The clinic has stopped taking new tokens today. You keep your place.",
        "क्लिनिक ने आज नए टोकन देना बंद कर दिया है। आपका स्थान बना रहेगा।";
    cancel_button => "I can't come – cancel my token", "मैं नहीं आ पाऊँगा – टोकन रद्द करें";
    cancel_confirm => "Cancel token {n}? You will lose your place in the queue.",
        "टोकन {n} रद्द करें? कतार में आपकी जगह चली जाएगी।";
    cancel_yes => "Yes, cancel", "हाँ, रद्द करें";
    cancel_no => "No, keep my place", "नहीं, जगह रखें";
    feedback_title => "How was your visit?", "आपकी विज़िट कैसी रही?";
    rating_label => "Your rating (1 = poor, 5 = excellent)", "आपकी रेटिंग (1 = खराब, 5 = बहुत अच्छा)";
    comment_label => "Comment (optional)", "टिप्पणी (वैकल्पिक)";
    feedback_send => "Send feedback", "राय भेजें";
    feedback_pick => "Please choose a rating from 1 to 5.", "कृपया 1 से 5 तक रेटिंग चुनें।";
    feedback_thanks => "Thank you for your feedback!", "आपकी राय के लिए धन्यवाद!";

    // Lobby display
    display_next => "Next", "अगले टोकन";
    display_none_waiting => "Nobody waiting", "कोई इंतज़ार में नहीं";
    display_away => "Stepped out (place kept)", "बाहर गए (जगह सुरक्षित)";
    display_sound_on => "Tap to turn on sound", "आवाज़ चालू करने के लिए दबाएँ";
    display_scan => "Scan to join the queue", "कतार में जुड़ने के लिए स्कैन करें";
    callout => "Token number {n}, please come in", "टोकन नंबर {n}, कृपया अंदर आइए";
    callout_room => "Token {n}, {room}", "टोकन {n}, {room}";
    display_rooms => "Now calling", "अभी बुलाया जा रहा है";
    display_room_idle => "Free", "खाली";

    // Poster
    poster_title => "Skip the waiting-room crowd", "वेटिंग रूम की भीड़ से बचें";
    poster_step1 => "Scan this QR code with your phone camera.", "अपने फ़ोन के कैमरे से यह QR कोड स्कैन करें।";
    poster_step2 => "Enter your name and mobile number to get a token.", "टोकन के लिए अपना नाम और मोबाइल नंबर लिखें।";
    poster_step3 => "Watch your place live; we'll message you on WhatsApp when it's your turn.",
        "अपना स्थान लाइव देखें; आपकी बारी आने पर हम WhatsApp पर संदेश भेजेंगे।";
    poster_no_phone => "No smartphone? Please ask at the reception.", "स्मार्टफ़ोन नहीं है? कृपया रिसेप्शन पर पूछें।";
    poster_line => "For: {line}", "इनके लिए: {line}";
    poster_whatsapp => "Or join on WhatsApp: send JOIN {code} to {number}.",
        "या WhatsApp पर जुड़ें: {number} पर JOIN {code} भेजें।";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut out: Vec<String> =
            s.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string())).collect();
        out.sort();
        out
    }

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        for key in K::ALL {
            assert!(!key.en().trim().is_empty(), "{key:?} has no English");
            assert!(!key.hi().trim().is_empty(), "{key:?} has no Hindi");
            assert_eq!(placeholders(key.en()), placeholders(key.hi()), "{key:?}: placeholders differ");
        }
    }

    #[test]
    fn hindi_is_written_in_devanagari() {
        let devanagari = |s: &str| s.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c));
        // Brand names and symbols read the same in both languages.
        let same = [K::app_name, K::nobody_serving];
        for key in K::ALL.iter().filter(|k| !same.contains(k)) {
            assert!(devanagari(key.hi()), "{key:?}: {:?}", key.hi());
        }
    }

    #[test]
    fn formatting_and_json() {
        assert_eq!(Lang::Hi.tf(K::callout, &[("n", "12")]), "टोकन नंबर 12, कृपया अंदर आइए");
        assert_eq!(Lang::En.tf(K::eta, &[("lo", "12"), ("hi", "30")]), "about 12–30 min");
        let v: serde_json::Value = serde_json::from_str(&Lang::En.json(&[K::you_are_next])).unwrap();
        assert_eq!(v["you_are_next"], "You're next");
    }

    #[test]
    fn language_choice() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers, Lang::En), Lang::En);
        headers.insert(axum::http::header::ACCEPT_LANGUAGE, "hi-IN,hi;q=0.9,en;q=0.8".parse().unwrap());
        assert_eq!(Lang::choose(None, &headers, Lang::En), Lang::Hi);
        assert_eq!(Lang::choose(Some("en"), &headers, Lang::Hi), Lang::En);
        assert_eq!(Lang::choose(Some("fr"), &headers, Lang::En), Lang::Hi);
    }
}
