# QLink patient texts: Marathi (मराठी).

## Shared
app_name = QLink
switch_language = भाषा
now_serving = आता बोलावलेले
nobody_serving = —
waiting_count = { $n } जण प्रतीक्षेत
token = टोकन
footer_note = क्लिनिक रांग — QLink

## Intake
intake_title = रांगेत सामील व्हा
intake_lead = टोकन घ्या आणि आरामात वाट पाहा. तुमचा नंबर आल्यावर आम्ही तुम्हाला कळवू.
name_label = तुमचे नाव
phone_label = मोबाइल नंबर
phone_hint = 10 अंकी मोबाइल नंबर
consent = तुमच्या भेटीबद्दलचे WhatsApp अपडेट आम्ही या नंबरवर पाठवू.
join_button = माझे टोकन घ्या
joining = तुमचे टोकन तयार होत आहे…
existing_token = आज इथे तुमचे टोकन { $n } आधीच आहे.
track_my_token = माझे टोकन पाहा
err_name = कृपया तुमचे नाव लिहा (80 अक्षरांपर्यंत).
err_phone = कृपया योग्य 10 अंकी मोबाइल नंबर लिहा.
err_generic = काहीतरी चूक झाली. कृपया पुन्हा प्रयत्न करा.
err_unavailable = सेवा थोड्या वेळासाठी उपलब्ध नाही. कृपया थोड्या वेळाने पुन्हा प्रयत्न करा.
err_offline = इंटरनेट कनेक्शन नाही. कृपया कनेक्शन तपासा आणि पुन्हा प्रयत्न करा.
closed_title = आजची रांग बंद आहे
closed_body = क्लिनिक सध्या ऑनलाइन टोकन देत नाही. कृपया रिसेप्शनवर विचारा.
suspended_title = ऑनलाइन टोकन उपलब्ध नाहीत
suspended_body = हे क्लिनिक सध्या QLink द्वारे रुग्ण घेत नाही. कृपया रिसेप्शनवर विचारा.
limit_title = कृपया थोडे थांबा
limit_network = या नेटवर्कवरून खूप टोकन घेतले गेले आहेत. कृपया काही मिनिटे थांबा किंवा रिसेप्शनवर विचारा.
limit_daily_title = आजचे टोकन संपले आहेत
limit_daily = क्लिनिकचे आजचे सर्व टोकन देऊन झाले आहेत. कृपया रिसेप्शनवर विचारा.
already_title = या मोबाइल नंबरवर आज आधीच टोकन आहे
already_yours = या फोनवरून घेतलेले तुमचे टोकन: { $n }
already_lost = लिंक सापडत नाही? ती तुमच्या WhatsApp मेसेजमध्ये आहे, किंवा रिसेप्शनवर विचारा.
back_to_form = मागे
choose_line = तुमचे डॉक्टर निवडा
line_wait = { $n } जण प्रतीक्षेत · सुमारे { $lo }–{ $hi } मिनिटे
line_no_wait = कोणीही प्रतीक्षेत नाही: पुढचा नंबर तुमचा असेल
line_inactive = आज रुग्ण तपासत नाहीत
line_closed = आजसाठी बंद
line_full = आजचे टोकन संपले आहेत
line_unavailable = सध्या ऑनलाइन टोकन मिळत नाहीत
err_pick_line = कृपया डॉक्टर निवडा.
join_whatsapp = WhatsApp वर सामील व्हा
join_whatsapp_hint = किंवा WhatsApp चॅटमध्ये टोकन घ्या: मेसेज आधीच लिहिलेला असेल, फक्त पाठवा.
stop_whatsapp = या क्लिनिकचे WhatsApp मेसेज बंद करण्यासाठी STOP लिहून पाठवा.

## Not found / errors
notfound_title = पेज सापडले नाही
notfound_body = ही लिंक योग्य नाही. तुमच्या WhatsApp मेसेजमधील लिंक तपासा, किंवा क्लिनिकचा QR कोड पुन्हा स्कॅन करा.
error_title = काहीतरी चूक झाली

## Tracking
your_token = तुमचे टोकन
your_line = डॉक्टर / रांग
go_to_room = कृपया { $room } मध्ये जा
st_waiting = प्रतीक्षेत
st_serving = तुमचा नंबर आला आहे
st_serving_body = कृपया आता डॉक्टरांकडे आत जा.
st_served = तुमची भेट पूर्ण झाली
st_served_body = आल्याबद्दल धन्यवाद. लवकर बरे व्हा!
st_skipped = तुमचा नंबर चुकला
st_skipped_body = कृपया रिसेप्शनवर बोला: ते तुम्हाला पुन्हा बोलावू शकतात.
st_cancelled = टोकन रद्द झाले
st_cancelled_body = तुम्ही आता रांगेत नाही.
position = रांगेतील तुमची जागा
people_ahead = तुमच्या पुढे { $n } जण
one_ahead = तुमच्या पुढे 1 जण
you_are_next = पुढचा नंबर तुमचा आहे
eta = सुमारे { $lo }–{ $hi } मिनिटे
eta_soon = आता कोणत्याही क्षणी
eta_label = अंदाजे प्रतीक्षा वेळ
progress_label = रांगेत पुढे जाण्याची तुमची प्रगती
shift_alert = एक तातडीचा रुग्ण रांगेत जोडला गेला. तुमची जागा { $n } ने मागे गेली.
dismiss = ठीक आहे
keep_open = हे पेज उघडे ठेवा: ते आपोआप अपडेट होते. आम्ही तुम्हाला WhatsApp वरही मेसेज पाठवू.
offline = तुम्ही ऑफलाइन आहात. इंटरनेट परत आल्यावर हे पेज अपडेट होईल.
updated_at = अपडेट: { $time }
intake_closed_note = क्लिनिकने आज नवीन टोकन देणे बंद केले आहे. तुमची जागा कायम राहील.
cancel_button = मला येता येणार नाही – माझे टोकन रद्द करा
cancel_confirm = टोकन { $n } रद्द करायचे? रांगेतील तुमची जागा जाईल.
cancel_yes = हो, रद्द करा
cancel_no = नाही, माझी जागा ठेवा
feedback_title = तुमची भेट कशी होती?
rating_label = तुमचे रेटिंग (1 = वाईट, 5 = उत्तम)
comment_label = टिप्पणी (ऐच्छिक)
feedback_send = अभिप्राय पाठवा
feedback_pick = कृपया 1 ते 5 पैकी रेटिंग निवडा.
feedback_thanks = तुमच्या अभिप्रायाबद्दल धन्यवाद!

## Tracking: stepping out, coming back, reminders, a doctor's delay (SPEC §12)
hold_button = बाहेर जायचे आहे – माझी जागा ठेवा
hold_explain = बाहेर जायचे आहे? आम्ही तुमची जागा { $minutes } मिनिटे राखून ठेवू. परत आल्यावर “मी परत हजर आहे” दाबा.
held_title = तुम्ही बाहेर गेला आहात
held_until = तुमची जागा { $time } पर्यंत राखून ठेवली आहे. तोपर्यंत तुमचा नंबर आला, तर पुढच्या रुग्णाला आधी बोलावले जाईल.
return_button = मी परत हजर आहे
returned_place = पुन्हा स्वागत आहे. तुमची जागा तुम्हाला परत मिळाली आहे.
returned_front = पुन्हा स्वागत आहे. तुम्ही बाहेर असताना तुमचा नंबर निघून गेला, म्हणून आता तुम्ही सर्वात पुढे आहात.
hold_expired = तुम्ही वेळेत परत आला नाहीत, म्हणून तुमचा नंबर वगळला गेला. कृपया रिसेप्शनवर विचारा.
err_hold = आता बाहेर जाता येणार नाही: तुमचे टोकन प्रतीक्षेत नाही.
err_holds_off = हे क्लिनिक बाहेर जाणाऱ्या रुग्णांची जागा राखून ठेवत नाही. कृपया रिसेप्शनवर विचारा.
reminder_label = माझ्या पुढे इतके जण असतील तेव्हा मला WhatsApp वर मेसेज करा
reminder_save = सेव्ह करा
reminder_saved = तुमच्या पुढे { $n } जण असतील तेव्हा आम्ही तुम्हाला मेसेज करू.
reminder_off = हे क्लिनिक आठवणीचे मेसेज पाठवत नाही.
delay_notice = डॉक्टरांना सुमारे { $minutes } मिनिटे उशीर होत आहे. हा उशीर तुमच्या अंदाजे प्रतीक्षा वेळेत धरला आहे.
clock = { $hour }:{ $minute } { $half }
clock_am = म.पू.
clock_pm = म.उ.

## Lobby display
display_next = पुढील टोकन
display_none_waiting = कोणीही प्रतीक्षेत नाही
display_away = बाहेर गेले (जागा राखीव)
display_sound_on = आवाज सुरू करण्यासाठी टॅप करा
display_scan = रांगेत सामील होण्यासाठी स्कॅन करा
callout = टोकन नंबर { $n }, कृपया आत या
callout_room = टोकन { $n }, { $room }
display_rooms = आता बोलावत आहोत
display_room_idle = रिकामे
display_waiting = प्रतीक्षेत · तुमचा नंबर पहा

## Poster
poster_title = वेटिंग रूममधील गर्दी टाळा
poster_step1 = तुमच्या फोनच्या कॅमेऱ्याने हा QR कोड स्कॅन करा.
poster_step2 = टोकन मिळवण्यासाठी तुमचे नाव आणि मोबाइल नंबर लिहा.
poster_step3 = तुमची जागा लाइव्ह पाहा; तुमचा नंबर आल्यावर आम्ही तुम्हाला WhatsApp वर मेसेज करू.
poster_no_phone = स्मार्टफोन नाही? कृपया रिसेप्शनवर विचारा.
poster_line = यांच्यासाठी: { $line }
poster_whatsapp = किंवा WhatsApp वर सामील व्हा: { $number } वर JOIN { $code } पाठवा.

## WhatsApp replies (to what the patient wrote)
reply_joined = { $clinic }: तुम्ही रांगेत आहात. तुमचे टोकन { $label } आहे.
reply_ahead = तुमच्या पुढे { $n } जण.
reply_next = पुढचा नंबर तुमचा आहे.
reply_eta = सुमारे { $lo }–{ $hi } मिनिटे.
reply_waiting = { $clinic }: टोकन { $label } प्रतीक्षेत आहे.
reply_serving = { $clinic }: टोकन { $label }, आता तुमचा नंबर आला आहे. कृपया आत जा.
reply_serving_room = { $clinic }: टोकन { $label }, आता तुमचा नंबर आला आहे. कृपया { $room } मध्ये जा.
reply_served = { $clinic }: टोकन { $label } ची तपासणी झाली. धन्यवाद!
reply_skipped = { $clinic }: टोकन { $label } वगळले गेले. कृपया रिसेप्शनवर विचारा.
reply_was_cancelled = { $clinic }: टोकन { $label } आधीच रद्द झाले आहे.
reply_cancelled = { $clinic }: टोकन { $label } रद्द केले आहे. लवकर बरे व्हा.
reply_not_cancellable = { $clinic }: टोकन { $label } आता रद्द करता येणार नाही. कृपया रिसेप्शनवर विचारा.
reply_held = { $clinic }: टोकन { $label }, आम्ही तुमची जागा { $minutes } मिनिटे राखून ठेवू. परत आल्यावर BACK पाठवा.
reply_hold_refused = { $clinic }: टोकन { $label }, आता बाहेर जाता येणार नाही. कृपया रिसेप्शनवर विचारा.
reply_holds_off = { $clinic } बाहेर जाणाऱ्या रुग्णांची जागा राखून ठेवत नाही. कृपया रिसेप्शनवर विचारा.
reply_returned = { $clinic }: पुन्हा स्वागत आहे, टोकन { $label }. तुमची जागा तुम्हाला परत मिळाली आहे.
reply_returned_front = { $clinic }: पुन्हा स्वागत आहे, टोकन { $label }. तुमचा नंबर निघून गेला होता, म्हणून आता तुम्ही सर्वात पुढे आहात.
reply_not_held = { $clinic }: टोकन { $label }, तुम्ही बाहेर गेल्याची नोंद नव्हती.
reply_hold_expired = { $clinic }: टोकन { $label }, तुम्ही खूप वेळ बाहेर होता, म्हणून तुमचा नंबर वगळला गेला. कृपया रिसेप्शनवर विचारा.
reply_no_token = आज तुमचे कोणतेही टोकन नाही. सामील होण्यासाठी JOIN आणि क्लिनिकच्या पोस्टरवरील कोड पाठवा.
reply_stopped = आता तुम्हाला { $clinic } कडून मेसेज येणार नाहीत. पुन्हा सुरू करण्यासाठी START पाठवा.
reply_stopped_any = आता तुम्हाला आमच्याकडून मेसेज येणार नाहीत. पुन्हा सुरू करण्यासाठी START पाठवा.
reply_started = { $clinic } कडून मेसेज पुन्हा सुरू झाले आहेत.
reply_started_any = मेसेज पुन्हा सुरू झाले आहेत.
reply_help =
    पाठवा:
    सामील <कोड> (JOIN) – टोकन घ्या (कोड क्लिनिकच्या पोस्टरवर आहे)
    स्थिती (STATUS) – रांगेतील तुमची जागा
    रद्द (CANCEL) – तुमचे टोकन रद्द करा
    उशीर (LATE) – बाहेर जा, जागा राखून ठेवा
    परत (BACK) – तुम्ही परत आलात
    थांबा (STOP) – मेसेज बंद
    सुरू (START) – मेसेज पुन्हा सुरू
    मदत (HELP) – ही यादी
reply_refused = माफ करा, टोकन मिळाले नाही: { $why }
reply_why_unknown_clinic = हा क्लिनिक कोड आम्हाला सापडला नाही. कृपया पोस्टरवरील कोड तपासा.
reply_why_no_phone = या WhatsApp खात्यावर फोन नंबर दिसत नाही. कृपया रिसेप्शनवर विचारा.
reply_why_not_taking = क्लिनिक सध्या WhatsApp वर टोकन देत नाही. कृपया रिसेप्शनवर विचारा.
reply_why_closed = आजची रांग बंद आहे.
reply_why_phone_limit = या नंबरवर आज परवानगी असलेले सर्व टोकन आधीच घेतले आहेत.
reply_why_daily_limit = क्लिनिकचे आजचे सर्व टोकन देऊन झाले आहेत.
reply_why_choose_line = क्लिनिकमध्ये अनेक रांगा आहेत. यांपैकी एक पाठवा:
reply_why_no_line = ही रांग अस्तित्वात नाही. कृपया पोस्टरवरील कोड तपासा.
reply_why_other = कृपया रिसेप्शनवर विचारा.
reply_track = लाइव्ह: { $link }

## WhatsApp templates (Meta approves each body; a placeable stands for a numbered parameter)
template_welcome =
    नमस्कार! { $clinic } मध्ये तुमचे स्वागत आहे. तुमचे टोकन { $token } आहे आणि तुमच्या पुढे { $ahead } जण आहेत.
    रांग लाइव्ह पाहा: { $link }
    तुमचा नंबर जवळ आल्यावर आम्ही तुम्हाला मेसेज करू.
template_reminder =
    नमस्कार, { $clinic } मध्ये तुमचा नंबर लवकरच येणार आहे: टोकन { $token }, तुमच्या पुढे { $ahead } जण आहेत. कृपया रिसेप्शनजवळ थांबा.
    लाइव्ह रांग: { $link }
    धन्यवाद.
template_called =
    नमस्कार, { $clinic } मध्ये आता तुमचा नंबर आला आहे: टोकन { $token }, कृपया आत जा.
    तपशील: { $link }
    धन्यवाद.
template_delay =
    क्षमस्व, { $clinic } मधील डॉक्टरांना सुमारे { $minutes } मिनिटे उशीर होत आहे. टोकन { $token } ची जागा कायम राहील.
    लाइव्ह रांग: { $link }
    वाट पाहिल्याबद्दल धन्यवाद.

## Quick-reply buttons: at most 25 characters each
button_status = माझी स्थिती
button_cancel = माझे टोकन रद्द करा
button_stop = मेसेज बंद करा
button_late = मला उशीर होईल

## Printed slip
slip_joined = सामील झाल्याची वेळ: { $time }
slip_scan = फोनवर तुमची पाळी पाहण्यासाठी स्कॅन करा
slip_print = प्रिंट करा
slip_room = खोली: { $room }

## Kiosk at the door
kiosk_title = तुमचा टोकन इथे घ्या
kiosk_lead = तुमचे नाव लिहा आणि खालील बटण दाबा. तुमची टोकन चिठ्ठी इथेच छापली जाईल.
kiosk_phone_label = मोबाइल नंबर (ऐच्छिक, WhatsApp माहितीसाठी)
kiosk_take_slip = कृपया तुमची चिठ्ठी घ्या. बोलावले जाईपर्यंत ती जवळ ठेवा.
kiosk_next = पुढचा रुग्ण
kiosk_busy = या कियोस्कवरून आत्ताच बरेच टोकन घेतले गेले. कृपया एक मिनिट थांबा किंवा रिसेप्शनवर विचारा.
kiosk_phone_taken = या नंबरवर आज आधीच टोकन आहे. कृपया रिसेप्शनवर विचारा.
kiosk_closed = तुमच्या टोकनसाठी कृपया रिसेप्शनवर विचारा.
