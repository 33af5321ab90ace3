# QLink patient texts: Gujarati (ગુજરાતી).

## Shared
app_name = QLink
switch_language = ભાષા
now_serving = હમણાં બોલાવેલ
nobody_serving = —
waiting_count = { $n } રાહ જોઈ રહ્યા છે
token = ટોકન
footer_note = ક્લિનિક કતાર — QLink

## Intake
intake_title = કતારમાં જોડાઓ
intake_lead = ટોકન લો અને આરામથી રાહ જુઓ. તમારો વારો આવશે ત્યારે અમે તમને જણાવીશું.
name_label = તમારું નામ
phone_label = મોબાઇલ નંબર
phone_hint = 10 અંકનો મોબાઇલ નંબર
consent = અમે આ નંબર પર તમારી મુલાકાત વિશેની માહિતી WhatsApp પર મોકલીશું.
join_button = મારો ટોકન મેળવો
joining = તમારો ટોકન બની રહ્યો છે…
existing_token = આજે અહીં તમારો ટોકન { $n } પહેલેથી છે.
track_my_token = મારો ટોકન જુઓ
err_name = કૃપા કરીને તમારું નામ લખો (80 અક્ષર સુધી).
err_phone = કૃપા કરીને 10 અંકનો સાચો મોબાઇલ નંબર લખો.
err_generic = કંઈક ખોટું થયું. કૃપા કરીને ફરી પ્રયાસ કરો.
err_unavailable = સેવા થોડી વાર માટે ઉપલબ્ધ નથી. કૃપા કરીને થોડી વારમાં ફરી પ્રયાસ કરો.
err_offline = ઇન્ટરનેટ કનેક્શન નથી. કૃપા કરીને કનેક્શન તપાસો અને ફરી પ્રયાસ કરો.
closed_title = આજની કતાર બંધ છે
closed_body = ક્લિનિક હમણાં ઓનલાઇન ટોકન આપતું નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
suspended_title = ઓનલાઇન ટોકન ઉપલબ્ધ નથી
suspended_body = આ ક્લિનિક હમણાં QLink દ્વારા દર્દીઓ લેતું નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
limit_title = કૃપા કરીને થોડી રાહ જુઓ
limit_network = આ નેટવર્ક પરથી ઘણા બધા ટોકન લેવાઈ ગયા છે. કૃપા કરીને થોડી મિનિટ રાહ જુઓ અથવા રિસેપ્શન પર પૂછો.
limit_daily_title = આજના ટોકન પૂરા થઈ ગયા છે
limit_daily = ક્લિનિકે આજના બધા ટોકન આપી દીધા છે. કૃપા કરીને રિસેપ્શન પર પૂછો.
already_title = આ મોબાઇલ નંબર પર આજે પહેલેથી ટોકન છે
already_yours = આ ફોન પરથી લીધેલો તમારો ટોકન: { $n }
already_lost = લિંક ખોવાઈ ગઈ? તે તમારા WhatsApp મેસેજમાં છે, અથવા રિસેપ્શન પર પૂછો.
back_to_form = પાછા
choose_line = તમારા ડૉક્ટર પસંદ કરો
line_wait = { $n } રાહ જોઈ રહ્યા છે · આશરે { $lo }–{ $hi } મિનિટ
line_no_wait = કોઈ રાહ જોતું નથી: આગળનો વારો તમારો હશે
line_inactive = આજે દર્દીઓને જોતા નથી
line_closed = આજ માટે બંધ
line_full = આજના ટોકન પૂરા થઈ ગયા છે
line_unavailable = હમણાં ઓનલાઇન ટોકન બંધ છે
err_pick_line = કૃપા કરીને એક ડૉક્ટર પસંદ કરો.
join_whatsapp = WhatsApp પર જોડાઓ
join_whatsapp_hint = અથવા WhatsApp ચેટમાં ટોકન મેળવો: મેસેજ પહેલેથી લખેલો હશે, બસ મોકલી દો.
stop_whatsapp = આ ક્લિનિકના WhatsApp મેસેજ બંધ કરવા માટે STOP લખીને મોકલો.

## Not found / errors
notfound_title = પેજ મળ્યું નથી
notfound_body = આ લિંક સાચી નથી. તમારા WhatsApp મેસેજમાંની લિંક જુઓ, અથવા ક્લિનિકનો QR કોડ ફરીથી સ્કેન કરો.
error_title = કંઈક ખોટું થયું

## Tracking
your_token = તમારો ટોકન
your_line = ડૉક્ટર / કતાર
go_to_room = કૃપા કરીને { $room } માં જાઓ
st_waiting = રાહમાં
st_serving = તમારો વારો છે
st_serving_body = કૃપા કરીને હમણાં ડૉક્ટર પાસે જાઓ.
st_served = તમારી મુલાકાત પૂરી થઈ
st_served_body = આવવા બદલ આભાર. જલ્દી સાજા થઈ જાઓ!
st_skipped = તમારો વારો નીકળી ગયો
st_skipped_body = કૃપા કરીને રિસેપ્શન પર વાત કરો: તેઓ તમને ફરી બોલાવી શકે છે.
st_cancelled = ટોકન રદ થયો
st_cancelled_body = હવે તમે કતારમાં નથી.
position = કતારમાં તમારું સ્થાન
people_ahead = તમારી આગળ { $n } લોકો
one_ahead = તમારી આગળ 1 વ્યક્તિ
you_are_next = આગળનો વારો તમારો છે
eta = આશરે { $lo }–{ $hi } મિનિટ
eta_soon = બસ થોડી જ વારમાં
eta_label = અંદાજિત રાહ
progress_label = આગળ પહોંચવાની પ્રગતિ
shift_alert = એક પ્રાથમિકતાવાળો દર્દી ઉમેરાયો. તમારું સ્થાન { $n } પાછળ ગયું.
dismiss = ઠીક છે
keep_open = આ પેજ ખુલ્લું રાખો: તે જાતે અપડેટ થાય છે. અમે તમને WhatsApp પર પણ મેસેજ મોકલીશું.
offline = તમે ઓફલાઇન છો. ઇન્ટરનેટ પાછું આવતાં જ આ પેજ અપડેટ થશે.
updated_at = અપડેટ: { $time }
intake_closed_note = ક્લિનિકે આજે નવા ટોકન આપવાનું બંધ કર્યું છે. તમારું સ્થાન જળવાઈ રહેશે.
cancel_button = હું આવી શકીશ નહીં – ટોકન રદ કરો
cancel_confirm = ટોકન { $n } રદ કરવો છે? કતારમાં તમારું સ્થાન જતું રહેશે.
cancel_yes = હા, રદ કરો
cancel_no = ના, મારું સ્થાન રાખો
feedback_title = તમારી મુલાકાત કેવી રહી?
rating_label = તમારું રેટિંગ (1 = ખરાબ, 5 = ખૂબ સરસ)
comment_label = ટિપ્પણી (વૈકલ્પિક)
feedback_send = પ્રતિભાવ મોકલો
feedback_pick = કૃપા કરીને 1 થી 5 સુધી રેટિંગ પસંદ કરો.
feedback_thanks = તમારા પ્રતિભાવ બદલ આભાર!

## Tracking: stepping out, coming back, reminders, a doctor's delay (SPEC §12)
hold_button = બહાર જવું છે – મારું સ્થાન રાખો
hold_explain = બહાર જવું છે? અમે તમારું સ્થાન { $minutes } મિનિટ સુધી રાખીશું. પાછા આવો ત્યારે “હું પાછો આવી ગયો” દબાવો.
held_title = તમે બહાર ગયા છો
held_until = તમારું સ્થાન { $time } સુધી સુરક્ષિત છે. જો ત્યાં સુધીમાં તમારો વારો આવે, તો પછીના દર્દીને પહેલાં બોલાવવામાં આવશે.
return_button = હું પાછો આવી ગયો
returned_place = ફરી સ્વાગત છે. તમને તમારું સ્થાન પાછું મળી ગયું.
returned_front = ફરી સ્વાગત છે. તમે બહાર હતા ત્યારે તમારો વારો નીકળી ગયો, એટલે હવે તમે સૌથી આગળ છો.
hold_expired = તમે સમયસર પાછા ન આવ્યા, એટલે તમારો વારો છોડી દેવામાં આવ્યો. કૃપા કરીને રિસેપ્શન પર પૂછો.
err_hold = તમે હમણાં બહાર જઈ શકતા નથી: તમારો ટોકન રાહમાં નથી.
err_holds_off = આ ક્લિનિક બહાર જતા દર્દીઓનું સ્થાન રાખતું નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reminder_label = મારી આગળ આટલા લોકો હોય ત્યારે મને WhatsApp પર મેસેજ કરો
reminder_save = સેવ કરો
reminder_saved = તમારી આગળ { $n } લોકો હશે ત્યારે અમે તમને મેસેજ કરીશું.
reminder_off = આ ક્લિનિક યાદ અપાવવાના મેસેજ મોકલતું નથી.
delay_notice = ડૉક્ટર આશરે { $minutes } મિનિટ મોડા છે. અંદાજિત રાહમાં આ સમય ઉમેરેલો છે.
clock = { $half } { $hour }:{ $minute }
clock_am = સવારે
clock_pm = સાંજે

## Lobby display
display_next = આગળના ટોકન
display_none_waiting = કોઈ રાહ જોતું નથી
display_away = બહાર ગયા (સ્થાન સુરક્ષિત)
display_sound_on = અવાજ ચાલુ કરવા માટે દબાવો
display_scan = કતારમાં જોડાવા માટે સ્કેન કરો
callout = ટોકન નંબર { $n }, કૃપા કરીને અંદર આવો
callout_room = ટોકન { $n }, { $room }
display_rooms = હમણાં બોલાવી રહ્યા છીએ
display_room_idle = ખાલી
display_waiting = રાહ જોનારા · તમારો નંબર જુઓ

## Poster
poster_title = વેઇટિંગ રૂમની ભીડથી બચો
poster_step1 = તમારા ફોનના કેમેરાથી આ QR કોડ સ્કેન કરો.
poster_step2 = ટોકન માટે તમારું નામ અને મોબાઇલ નંબર લખો.
poster_step3 = તમારું સ્થાન લાઇવ જુઓ; તમારો વારો આવશે ત્યારે અમે WhatsApp પર મેસેજ કરીશું.
poster_no_phone = સ્માર્ટફોન નથી? કૃપા કરીને રિસેપ્શન પર પૂછો.
poster_line = આ માટે: { $line }
poster_whatsapp = અથવા WhatsApp પર જોડાઓ: { $number } પર JOIN { $code } મોકલો.

## WhatsApp replies (to what the patient wrote)
reply_joined = { $clinic }: તમે કતારમાં છો. તમારો ટોકન { $label } છે.
reply_ahead = તમારી આગળ { $n } લોકો.
reply_next = આગળનો વારો તમારો છે.
reply_eta = આશરે { $lo }–{ $hi } મિનિટ.
reply_waiting = { $clinic }: ટોકન { $label } રાહમાં છે.
reply_serving = { $clinic }: ટોકન { $label }, હવે તમારો વારો છે. કૃપા કરીને અંદર જાઓ.
reply_serving_room = { $clinic }: ટોકન { $label }, હવે તમારો વારો છે. કૃપા કરીને { $room } માં જાઓ.
reply_served = { $clinic }: ટોકન { $label } ની તપાસ થઈ ગઈ. આભાર!
reply_skipped = { $clinic }: ટોકન { $label } છોડી દેવામાં આવ્યો. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_was_cancelled = { $clinic }: ટોકન { $label } રદ થઈ ચૂક્યો છે.
reply_cancelled = { $clinic }: ટોકન { $label } રદ કરવામાં આવ્યો. જલ્દી સાજા થાઓ.
reply_not_cancellable = { $clinic }: ટોકન { $label } હવે રદ થઈ શકે તેમ નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_held = { $clinic }: ટોકન { $label }, અમે તમારું સ્થાન { $minutes } મિનિટ સુધી રાખીશું. પાછા આવો ત્યારે BACK મોકલો.
reply_hold_refused = { $clinic }: ટોકન { $label }, તમે હમણાં બહાર જઈ શકતા નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_holds_off = { $clinic } બહાર જતા દર્દીઓનું સ્થાન રાખતું નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_returned = { $clinic }: ફરી સ્વાગત છે, ટોકન { $label }. તમને તમારું સ્થાન પાછું મળી ગયું.
reply_returned_front = { $clinic }: ફરી સ્વાગત છે, ટોકન { $label }. તમારો વારો નીકળી ગયો હતો, એટલે હવે તમે સૌથી આગળ છો.
reply_not_held = { $clinic }: ટોકન { $label }, તમે બહાર ગયા ન હતા.
reply_hold_expired = { $clinic }: ટોકન { $label }, તમે ઘણો સમય બહાર રહ્યા, એટલે તમારો વારો છોડી દેવામાં આવ્યો. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_no_token = આજે તમારો કોઈ ટોકન નથી. જોડાવા માટે JOIN અને ક્લિનિકના પોસ્ટર પરનો કોડ મોકલો.
reply_stopped = હવે તમને { $clinic } તરફથી મેસેજ નહીં આવે. ફરી ચાલુ કરવા માટે START મોકલો.
reply_stopped_any = હવે તમને અમારા તરફથી મેસેજ નહીં આવે. ફરી ચાલુ કરવા માટે START મોકલો.
reply_started = { $clinic } ના મેસેજ ફરી ચાલુ થયા છે.
reply_started_any = મેસેજ ફરી ચાલુ થયા છે.
reply_help =
    મોકલો:
    જોડાઓ <કોડ> (JOIN) – ટોકન મેળવો (કોડ ક્લિનિકના પોસ્ટર પર છે)
    સ્થિતિ (STATUS) – કતારમાં તમારું સ્થાન
    રદ (CANCEL) – તમારો ટોકન રદ કરો
    મોડું (LATE) – બહાર જાઓ, સ્થાન જાળવો
    પાછા (BACK) – તમે પાછા આવી ગયા
    બંધ (STOP) – મેસેજ બંધ
    શરૂ (START) – મેસેજ ફરી ચાલુ
    મદદ (HELP) – આ યાદી
reply_refused = માફ કરશો, ટોકન બની શક્યો નહીં: { $why }
reply_why_unknown_clinic = આ ક્લિનિક કોડ અમને મળ્યો નહીં. કૃપા કરીને પોસ્ટર પરનો કોડ તપાસો.
reply_why_no_phone = આ WhatsApp એકાઉન્ટમાં ફોન નંબર દેખાતો નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_why_not_taking = ક્લિનિક હમણાં WhatsApp પર ટોકન આપતું નથી. કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_why_closed = આજની કતાર બંધ છે.
reply_why_phone_limit = આ નંબર પર આજે મંજૂર હોય તેટલા બધા ટોકન પહેલેથી લેવાઈ ગયા છે.
reply_why_daily_limit = ક્લિનિકે આજના બધા ટોકન આપી દીધા છે.
reply_why_choose_line = ક્લિનિકમાં ઘણી કતારો છે. આમાંથી એક મોકલો:
reply_why_no_line = એવી કોઈ કતાર નથી. કૃપા કરીને પોસ્ટર પરનો કોડ તપાસો.
reply_why_other = કૃપા કરીને રિસેપ્શન પર પૂછો.
reply_track = લાઇવ: { $link }

## WhatsApp templates (Meta approves each body; a placeable stands for a numbered parameter)
template_welcome =
    નમસ્તે! { $clinic } માં તમારું સ્વાગત છે. તમારો ટોકન { $token } છે, તમારી આગળ { $ahead } લોકો છે.
    કતાર લાઇવ જુઓ: { $link }
    તમારો વારો નજીક આવશે ત્યારે અમે તમને મેસેજ કરીશું.
template_reminder =
    નમસ્તે, { $clinic } માં તમારો વારો આવવાનો છે: ટોકન { $token }, તમારી આગળ { $ahead } લોકો છે. કૃપા કરીને રિસેપ્શનની નજીક રહો.
    લાઇવ કતાર: { $link }
    આભાર.
template_called =
    નમસ્તે, { $clinic } માં હવે તમારો વારો છે: ટોકન { $token }, કૃપા કરીને અંદર જાઓ.
    વિગતો: { $link }
    આભાર.
template_delay =
    માફ કરશો, { $clinic } માં ડૉક્ટર આશરે { $minutes } મિનિટ મોડા છે. ટોકન { $token } નું સ્થાન જળવાઈ રહેશે.
    લાઇવ કતાર: { $link }
    રાહ જોવા બદલ આભાર.

## Quick-reply buttons: at most 25 characters each
button_status = મારી સ્થિતિ
button_cancel = મારો ટોકન રદ કરો
button_stop = મેસેજ બંધ કરો
button_late = મને મોડું થશે

## Printed slip
slip_joined = જોડાવાનો સમય: { $time }
slip_scan = ફોન પર તમારો વારો જોવા માટે સ્કેન કરો
slip_print = પ્રિન્ટ કરો
slip_room = રૂમ: { $room }

## Kiosk at the door
kiosk_title = તમારો ટોકન અહીં લો
kiosk_lead = તમારું નામ લખો અને નીચેનું બટન દબાવો. તમારી ટોકન સ્લિપ અહીં જ છપાશે.
kiosk_phone_label = મોબાઇલ નંબર (વૈકલ્પિક, WhatsApp માહિતી માટે)
kiosk_take_slip = કૃપા કરીને તમારી સ્લિપ લો. બોલાવવામાં આવે ત્યાં સુધી રાખો.
kiosk_next = આગળનો દર્દી
kiosk_busy = આ કિઓસ્ક પરથી હમણાં ઘણા ટોકન લેવાયા છે. કૃપા કરીને એક મિનિટ રાહ જુઓ અથવા રિસેપ્શન પર પૂછો.
kiosk_phone_taken = આ નંબર પર આજે પહેલેથી ટોકન છે. કૃપા કરીને રિસેપ્શન પર પૂછો.
kiosk_closed = તમારા ટોકન માટે કૃપા કરીને રિસેપ્શન પર પૂછો.
