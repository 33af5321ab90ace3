# QLink patient texts: Hindi (हिन्दी).

## Shared
app_name = QLink
switch_language = भाषा
now_serving = अभी बुलाया गया
nobody_serving = —
waiting_count = { $n } इंतज़ार में
token = टोकन
footer_note = क्लिनिक कतार — QLink

## Intake
intake_title = कतार में शामिल हों
intake_lead = टोकन लें और आराम से इंतज़ार करें। आपकी बारी आने पर हम आपको बताएँगे।
name_label = आपका नाम
phone_label = मोबाइल नंबर
phone_hint = 10 अंकों का मोबाइल नंबर
consent = हम इस नंबर पर आपकी विज़िट की जानकारी WhatsApp पर भेजेंगे।
join_button = मेरा टोकन लें
joining = आपका टोकन बन रहा है…
existing_token = आज यहाँ आपका टोकन { $n } पहले से है।
track_my_token = मेरा टोकन देखें
err_name = कृपया अपना नाम लिखें (80 अक्षरों तक)।
err_phone = कृपया 10 अंकों का सही मोबाइल नंबर लिखें।
err_generic = कुछ गड़बड़ हो गई। कृपया दोबारा कोशिश करें।
err_unavailable = सेवा कुछ देर के लिए उपलब्ध नहीं है। कृपया थोड़ी देर में फिर कोशिश करें।
err_offline = इंटरनेट कनेक्शन नहीं है। कृपया कनेक्शन जाँचें और फिर कोशिश करें।
closed_title = आज की कतार बंद है
closed_body = क्लिनिक अभी ऑनलाइन टोकन नहीं दे रहा है। कृपया रिसेप्शन पर पूछें।
suspended_title = ऑनलाइन टोकन उपलब्ध नहीं हैं
suspended_body = यह क्लिनिक अभी QLink से मरीज़ नहीं ले रहा है। कृपया रिसेप्शन पर पूछें।
limit_title = कृपया थोड़ा रुकें
limit_network = इस नेटवर्क से बहुत सारे टोकन लिए जा चुके हैं। कृपया कुछ मिनट रुकें या रिसेप्शन पर पूछें।
limit_daily_title = आज के टोकन खत्म हो गए
limit_daily = क्लिनिक आज के सभी टोकन दे चुका है। कृपया रिसेप्शन पर पूछें।
already_title = इस मोबाइल नंबर पर आज पहले से टोकन है
already_yours = इस फ़ोन से लिया गया आपका टोकन: { $n }
already_lost = लिंक खो गया? वह आपके WhatsApp संदेशों में है, या रिसेप्शन पर पूछें।
back_to_form = वापस
choose_line = अपना डॉक्टर चुनें
line_wait = { $n } इंतज़ार में · लगभग { $lo }–{ $hi } मिनट
line_no_wait = कोई इंतज़ार में नहीं: अगली बारी आपकी होगी
line_inactive = आज मरीज़ नहीं देख रहे
line_closed = आज के लिए बंद
line_full = आज के टोकन खत्म हो गए
line_unavailable = अभी ऑनलाइन टोकन नहीं ले रहे
err_pick_line = कृपया एक डॉक्टर चुनें।
join_whatsapp = WhatsApp पर जुड़ें
join_whatsapp_hint = या WhatsApp चैट में टोकन लें: संदेश पहले से लिखा होगा, बस भेज दें।
stop_whatsapp = इस क्लिनिक के WhatsApp संदेश बंद करने के लिए STOP (या रोकें) लिखकर भेजें।

## Not found / errors
notfound_title = पेज नहीं मिला
notfound_body = यह लिंक सही नहीं है। अपने WhatsApp संदेश का लिंक देखें, या क्लिनिक का QR कोड फिर से स्कैन करें।
error_title = कुछ गड़बड़ हो गई

## Tracking
your_token = आपका टोकन
your_line = डॉक्टर / कतार
go_to_room = कृपया { $room } में जाएँ
st_waiting = इंतज़ार में
st_serving = आपकी बारी है
st_serving_body = कृपया अभी डॉक्टर के पास जाएँ।
st_served = आपकी विज़िट पूरी हुई
st_served_body = आने के लिए धन्यवाद। जल्दी ठीक हो जाइए!
st_skipped = आपकी बारी निकल गई
st_skipped_body = कृपया रिसेप्शन पर बात करें: वे आपको फिर से बुला सकते हैं।
st_cancelled = टोकन रद्द हो गया
st_cancelled_body = अब आप कतार में नहीं हैं।
position = कतार में आपका स्थान
people_ahead = आपसे पहले { $n } लोग
one_ahead = आपसे पहले 1 व्यक्ति
you_are_next = अगली बारी आपकी है
eta = लगभग { $lo }–{ $hi } मिनट
eta_soon = बस कुछ ही देर में
eta_label = अनुमानित इंतज़ार
progress_label = आगे तक पहुँचने की प्रगति
shift_alert = एक प्राथमिकता वाला मरीज़ जोड़ा गया। आपका स्थान { $n } पीछे हो गया।
dismiss = ठीक है
keep_open = यह पेज खुला रखें: यह अपने-आप अपडेट होता है। हम आपको WhatsApp पर भी संदेश भेजेंगे।
offline = आप ऑफ़लाइन हैं। इंटरनेट लौटते ही यह पेज अपडेट होगा।
updated_at = अपडेट: { $time }
intake_closed_note = क्लिनिक ने आज नए टोकन देना बंद कर दिया है। आपका स्थान बना रहेगा।
cancel_button = मैं नहीं आ पाऊँगा – टोकन रद्द करें
cancel_confirm = टोकन { $n } रद्द करें? कतार में आपकी जगह चली जाएगी।
cancel_yes = हाँ, रद्द करें
cancel_no = नहीं, जगह रखें
feedback_title = आपकी विज़िट कैसी रही?
rating_label = आपकी रेटिंग (1 = खराब, 5 = बहुत अच्छा)
comment_label = टिप्पणी (वैकल्पिक)
feedback_send = राय भेजें
feedback_pick = कृपया 1 से 5 तक रेटिंग चुनें।
feedback_thanks = आपकी राय के लिए धन्यवाद!

## Tracking: stepping out, coming back, reminders, a doctor's delay (SPEC §12)
hold_button = बाहर जाना है – मेरी जगह रखें
hold_explain = बाहर जाना है? हम आपकी जगह { $minutes } मिनट तक रखेंगे। लौटकर “मैं वापस आ गया” दबाएँ।
held_title = आप बाहर गए हैं
held_until = आपकी जगह { $time } तक सुरक्षित है। आपकी बारी आई तो अगले मरीज़ को पहले बुलाया जाएगा।
return_button = मैं वापस आ गया
returned_place = फिर से स्वागत है। आपकी जगह वापस मिल गई।
returned_front = फिर से स्वागत है। आपके बाहर रहते आपकी बारी निकल गई, इसलिए अब आप सबसे आगे हैं।
hold_expired = आप समय पर नहीं लौटे, इसलिए आपकी बारी छोड़ दी गई। कृपया रिसेप्शन पर पूछें।
err_hold = अभी बाहर नहीं जा सकते: आपका टोकन इंतज़ार में नहीं है।
err_holds_off = यह क्लिनिक बाहर जाने वाले मरीज़ों की जगह नहीं रखता। कृपया रिसेप्शन पर पूछें।
reminder_label = जब मुझसे आगे इतने लोग हों, तब WhatsApp पर बताएँ
reminder_save = सहेजें
reminder_saved = जब आपसे आगे { $n } लोग होंगे, हम आपको संदेश भेजेंगे।
reminder_off = यह क्लिनिक याद दिलाने के संदेश नहीं भेजता।
delay_notice = डॉक्टर लगभग { $minutes } मिनट देर से हैं। अनुमानित इंतज़ार में यह जुड़ा है।
clock = { $half } { $hour }:{ $minute }
clock_am = सुबह
clock_pm = शाम

## Lobby display
display_next = अगले टोकन
display_none_waiting = कोई इंतज़ार में नहीं
display_away = बाहर गए (जगह सुरक्षित)
display_sound_on = आवाज़ चालू करने के लिए दबाएँ
display_scan = कतार में जुड़ने के लिए स्कैन करें
callout = टोकन नंबर { $n }, कृपया अंदर आइए
callout_room = टोकन { $n }, { $room }
display_rooms = अभी बुलाया जा रहा है
display_room_idle = खाली
display_waiting = प्रतीक्षा में · अपना नंबर देखें

## Poster
poster_title = वेटिंग रूम की भीड़ से बचें
poster_step1 = अपने फ़ोन के कैमरे से यह QR कोड स्कैन करें।
poster_step2 = टोकन के लिए अपना नाम और मोबाइल नंबर लिखें।
poster_step3 = अपना स्थान लाइव देखें; आपकी बारी आने पर हम WhatsApp पर संदेश भेजेंगे।
poster_no_phone = स्मार्टफ़ोन नहीं है? कृपया रिसेप्शन पर पूछें।
poster_line = इनके लिए: { $line }
poster_whatsapp = या WhatsApp पर जुड़ें: { $number } पर JOIN { $code } भेजें।

## WhatsApp replies (to what the patient wrote)
reply_joined = { $clinic }: आप कतार में हैं। आपका टोकन { $label } है।
reply_ahead = आपसे आगे { $n } लोग।
reply_next = अगली बारी आपकी है।
reply_eta = लगभग { $lo }–{ $hi } मिनट।
reply_waiting = { $clinic }: टोकन { $label } इंतज़ार में है।
reply_serving = { $clinic }: टोकन { $label }, अब आपकी बारी है। कृपया अंदर जाएँ।
reply_serving_room = { $clinic }: टोकन { $label }, अब आपकी बारी है। कृपया { $room } में जाएँ।
reply_served = { $clinic }: टोकन { $label } देख लिया गया। धन्यवाद!
reply_skipped = { $clinic }: टोकन { $label } छोड़ दिया गया। कृपया रिसेप्शन पर पूछें।
reply_was_cancelled = { $clinic }: टोकन { $label } रद्द हो चुका है।
reply_cancelled = { $clinic }: टोकन { $label } रद्द कर दिया गया। जल्दी स्वस्थ हों।
reply_not_cancellable = { $clinic }: टोकन { $label } अब रद्द नहीं हो सकता। कृपया रिसेप्शन पर पूछें।
reply_held = { $clinic }: टोकन { $label }, हम आपकी जगह { $minutes } मिनट तक रखेंगे। लौटकर वापस (BACK) भेजें।
reply_hold_refused = { $clinic }: टोकन { $label } अभी बाहर नहीं जा सकता। कृपया रिसेप्शन पर पूछें।
reply_holds_off = { $clinic } बाहर जाने वाले मरीज़ों की जगह नहीं रखता। कृपया रिसेप्शन पर पूछें।
reply_returned = { $clinic }: फिर से स्वागत है, टोकन { $label }। आपकी जगह वापस मिल गई।
reply_returned_front = { $clinic }: फिर से स्वागत है, टोकन { $label }। आपकी बारी निकल गई थी, इसलिए अब आप सबसे आगे हैं।
reply_not_held = { $clinic }: टोकन { $label } बाहर नहीं गया था।
reply_hold_expired = { $clinic }: टोकन { $label } बहुत देर बाहर रहा, इसलिए छोड़ दिया गया। कृपया रिसेप्शन पर पूछें।
reply_no_token = आज आपका कोई टोकन नहीं है। जुड़ने के लिए क्लिनिक के पोस्टर वाला कोड लिखकर जुड़ें भेजें।
reply_stopped = अब आपको { $clinic } से संदेश नहीं आएँगे। फिर से पाने के लिए शुरू भेजें।
reply_stopped_any = अब आपको हमारे संदेश नहीं आएँगे। फिर से पाने के लिए शुरू भेजें।
reply_started = { $clinic } के संदेश फिर से चालू हैं।
reply_started_any = संदेश फिर से चालू हैं।
reply_help =
    भेजें:
    जुड़ें <कोड> (JOIN) – टोकन लें (कोड क्लिनिक के पोस्टर पर)
    स्थिति (STATUS) – कतार में आपकी जगह
    रद्द (CANCEL) – टोकन रद्द करें
    देर (LATE) – बाहर जाएँ, जगह रखें
    वापस (BACK) – आप लौट आए
    रोकें (STOP) – संदेश बंद
    शुरू (START) – संदेश फिर चालू
    मदद (HELP) – यह सूची
reply_refused = माफ़ कीजिए, टोकन नहीं बन सका: { $why }
reply_why_unknown_clinic = यह क्लिनिक कोड हमें नहीं मिला। कृपया पोस्टर पर कोड देखें।
reply_why_no_phone = इस WhatsApp खाते का फ़ोन नंबर नहीं दिखता। कृपया रिसेप्शन पर पूछें।
reply_why_not_taking = क्लिनिक अभी WhatsApp पर टोकन नहीं दे रहा है। कृपया रिसेप्शन पर पूछें।
reply_why_closed = आज की कतार बंद है।
reply_why_phone_limit = इस नंबर पर आज के सबसे ज़्यादा टोकन पहले ही बन चुके हैं।
reply_why_daily_limit = क्लिनिक के आज के सारे टोकन खत्म हो गए।
reply_why_choose_line = क्लिनिक में कई कतारें हैं। इनमें से एक भेजें:
reply_why_no_line = यह कतार नहीं मिली। कृपया पोस्टर पर कोड देखें।
reply_why_other = कृपया रिसेप्शन पर पूछें।
reply_track = लाइव: { $link }

## WhatsApp templates (Meta approves each body; a placeable stands for a numbered parameter)
template_welcome =
    नमस्ते! { $clinic } में आपका स्वागत है। आपका टोकन { $token } है, आपसे आगे { $ahead } लोग हैं।
    कतार लाइव देखें: { $link }
    बारी पास आने पर हम आपको संदेश भेजेंगे।
template_reminder =
    नमस्ते, { $clinic } में आपकी बारी आने वाली है: टोकन { $token }, आपसे आगे { $ahead } लोग हैं। कृपया रिसेप्शन के पास रहें।
    लाइव कतार: { $link }
    धन्यवाद।
template_called =
    नमस्ते, { $clinic } में अब आपकी बारी है: टोकन { $token }, कृपया अंदर जाएँ।
    जानकारी: { $link }
    धन्यवाद।
template_delay =
    क्षमा करें, { $clinic } में डॉक्टर लगभग { $minutes } मिनट देर से हैं। टोकन { $token } की जगह बनी रहेगी।
    लाइव कतार: { $link }
    इंतज़ार के लिए धन्यवाद।

## Quick-reply buttons: at most 25 characters each
button_status = मेरी स्थिति
button_cancel = टोकन रद्द करें
button_stop = संदेश बंद करें
button_late = मुझे देर होगी

## Printed slip
slip_joined = जुड़ने का समय: { $time }
slip_scan = फ़ोन पर अपनी बारी देखने के लिए स्कैन करें
slip_print = प्रिंट करें
slip_room = कमरा: { $room }

## Kiosk at the door
kiosk_title = अपना टोकन यहाँ लें
kiosk_lead = अपना नाम लिखें और नीचे का बटन दबाएँ। आपकी टोकन पर्ची यहीं छपेगी।
kiosk_phone_label = मोबाइल नंबर (ज़रूरी नहीं, WhatsApp पर जानकारी के लिए)
kiosk_take_slip = कृपया अपनी पर्ची ले लें। बुलाए जाने तक इसे रखें।
kiosk_next = अगला मरीज़
kiosk_busy = इस कियोस्क से अभी बहुत टोकन लिए गए हैं। कृपया एक मिनट रुकें या रिसेप्शन पर पूछें।
kiosk_phone_taken = इस नंबर पर आज पहले से टोकन है। कृपया रिसेप्शन पर पूछें।
kiosk_closed = अपने टोकन के लिए कृपया रिसेप्शन पर पूछें।
