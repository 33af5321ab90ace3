# QLink patient texts: English. The reference catalogue: every other language has exactly
# these messages with the same variables (server/src/i18n.rs tests it).

## Shared
app_name = QLink
switch_language = Language
now_serving = Now serving
nobody_serving = —
waiting_count = { $n } waiting
token = Token
footer_note = Clinic queue by QLink

## Intake
intake_title = Join the queue
intake_lead = Get a token and wait comfortably. We'll tell you when it's your turn.
name_label = Your name
phone_label = Mobile number
phone_hint = 10-digit mobile number
consent = We'll send WhatsApp updates about your visit to this number.
join_button = Get my token
joining = Getting your token…
existing_token = You already have token { $n } here today.
track_my_token = Track my token
err_name = Please enter your name (up to 80 letters).
err_phone = Please enter a valid 10-digit mobile number.
err_generic = Something went wrong. Please try again.
err_unavailable = The service is briefly unavailable. Please try again in a moment.
err_offline = No internet connection. Please check your connection and try again.
closed_title = Today's queue is closed
closed_body = The clinic is not giving tokens online right now. Please ask at the reception.
suspended_title = Online tokens are not available
suspended_body = This clinic is not taking patients through QLink right now. Please ask at the reception.
limit_title = Please wait a little
limit_network = Too many tokens were taken from this network. Please wait a few minutes or ask at the reception.
limit_daily_title = Today's tokens are finished
limit_daily = The clinic has given out all of today's tokens. Please ask at the reception.
already_title = This mobile number already has a token today
already_yours = Your token from this phone: { $n }
already_lost = Lost the link? It is in your WhatsApp messages, or ask at the reception.
back_to_form = Back
choose_line = Choose your doctor
line_wait = { $n } waiting · about { $lo }–{ $hi } min
line_no_wait = Nobody waiting: you would be next
line_inactive = Not seeing patients today
line_closed = Closed for today
line_full = Today's tokens are finished
line_unavailable = Not taking online tokens now
err_pick_line = Please choose a doctor.
join_whatsapp = Join on WhatsApp
join_whatsapp_hint = Or get your token in a WhatsApp chat: the message is typed in for you, just send it.
stop_whatsapp = Reply STOP to stop WhatsApp messages from this clinic.

## Not found / errors
notfound_title = Page not found
notfound_body = This link is not valid. Check the link in your WhatsApp message, or scan the clinic's QR code again.
error_title = Something went wrong

## Tracking
your_token = Your token
your_line = Doctor / line
go_to_room = Please go to { $room }
st_waiting = Waiting
st_serving = It's your turn
st_serving_body = Please go in to the doctor now.
st_served = Visit complete
st_served_body = Thank you for visiting. Get well soon!
st_skipped = You missed your turn
st_skipped_body = Please speak to the reception: they can call you back in.
st_cancelled = Token cancelled
st_cancelled_body = You are no longer in the queue.
position = Your place in the queue
people_ahead = { $n } people ahead of you
one_ahead = 1 person ahead of you
you_are_next = You're next
eta = about { $lo }–{ $hi } min
eta_soon = any minute now
eta_label = Estimated wait
progress_label = Your progress to the front
shift_alert = A priority case was added. Your position shifted by { $n }.
dismiss = OK
keep_open = Keep this page open: it updates by itself. We'll also message you on WhatsApp.
offline = You're offline. This page will update when you're back online.
updated_at = Updated { $time }
intake_closed_note = The clinic has stopped taking new tokens today. You keep your place.
cancel_button = I can't come – cancel my token
cancel_confirm = Cancel token { $n }? You will lose your place in the queue.
cancel_yes = Yes, cancel
cancel_no = No, keep my place
feedback_title = How was your visit?
rating_label = Your rating (1 = poor, 5 = excellent)
comment_label = Comment (optional)
feedback_send = Send feedback
feedback_pick = Please choose a rating from 1 to 5.
feedback_thanks = Thank you for your feedback!

## Tracking: stepping out, coming back, reminders, a doctor's delay (SPEC §12)
hold_button = Step out – keep my place
hold_explain = Need to step out? We keep your place for { $minutes } minutes. Press “I’m back” when you return.
held_title = You stepped out
held_until = Your place is kept until { $time }. If your turn comes, the next patient goes first.
return_button = I’m back
returned_place = Welcome back. You have your place again.
returned_front = Welcome back. Your turn passed while you were out, so you are at the front now.
hold_expired = You did not come back in time, so your turn was skipped. Please ask at the reception.
err_hold = You cannot step out now: your token is not waiting.
err_holds_off = This clinic does not keep places for patients who step out. Please ask at the reception.
reminder_label = Message me on WhatsApp when this many people are ahead of me
reminder_save = Save
reminder_saved = We will message you when { $n } people are ahead of you.
reminder_off = This clinic does not send reminders.
delay_notice = The doctor is running about { $minutes } minutes late. Your estimated wait includes it.
clock = { $hour }:{ $minute } { $half }
clock_am = am
clock_pm = pm

## Lobby display
display_next = Next
display_none_waiting = Nobody waiting
display_away = Stepped out (place kept)
display_sound_on = Tap to turn on sound
display_scan = Scan to join the queue
callout = Token number { $n }, please come in
callout_room = Token { $n }, { $room }
display_rooms = Now calling
display_room_idle = Free
display_waiting = Waiting · find your number

## Poster
poster_title = Skip the waiting-room crowd
poster_step1 = Scan this QR code with your phone camera.
poster_step2 = Enter your name and mobile number to get a token.
poster_step3 = Watch your place live; we'll message you on WhatsApp when it's your turn.
poster_no_phone = No smartphone? Please ask at the reception.
poster_line = For: { $line }
poster_whatsapp = Or join on WhatsApp: send JOIN { $code } to { $number }.

## WhatsApp replies (to what the patient wrote)
reply_joined = { $clinic }: you are in the queue. Your token is { $label }.
reply_ahead = { $n } ahead of you.
reply_next = You are next.
reply_eta = About { $lo }–{ $hi } min.
reply_waiting = { $clinic }: token { $label } is waiting.
reply_serving = { $clinic }: token { $label }, it is your turn now. Please go in.
reply_serving_room = { $clinic }: token { $label }, it is your turn now. Please go to { $room }.
reply_served = { $clinic }: token { $label } has been seen. Thank you!
reply_skipped = { $clinic }: token { $label } was skipped. Please ask at the reception.
reply_was_cancelled = { $clinic }: token { $label } was cancelled.
reply_cancelled = { $clinic }: token { $label } is cancelled. Get well soon.
reply_not_cancellable = { $clinic }: token { $label } can no longer be cancelled. Please ask at the reception.
reply_held = { $clinic }: token { $label }, we keep your place for { $minutes } minutes. Send BACK when you return.
reply_hold_refused = { $clinic }: token { $label } cannot step out now. Please ask at the reception.
reply_holds_off = { $clinic } does not keep places for patients who step out. Please ask at the reception.
reply_returned = { $clinic }: welcome back, token { $label }. You have your place again.
reply_returned_front = { $clinic }: welcome back, token { $label }. Your turn passed, so you are at the front now.
reply_not_held = { $clinic }: token { $label } had not stepped out.
reply_hold_expired = { $clinic }: token { $label } was away too long and was skipped. Please ask at the reception.
reply_no_token = You have no token today. To join, send JOIN and the clinic's code from its poster.
reply_stopped = You will get no more messages from { $clinic }. Send START to turn them on again.
reply_stopped_any = You will get no more messages from us. Send START to turn them on again.
reply_started = Messages from { $clinic } are on again.
reply_started_any = Messages are on again.
reply_help =
    Send:
    JOIN <code> – get a token (code on the clinic's poster)
    STATUS – your place in the queue
    CANCEL – cancel your token
    LATE – step out, keep your place
    BACK – you are back
    STOP – no more messages
    START – messages again
    HELP – this list
reply_refused = Sorry, no token: { $why }
reply_why_unknown_clinic = we don't know that clinic code. Please check the code on the poster.
reply_why_no_phone = this WhatsApp account shows no phone number. Please ask at the reception.
reply_why_not_taking = the clinic is not giving tokens on WhatsApp right now. Please ask at the reception.
reply_why_closed = today's queue is closed.
reply_why_phone_limit = this number already has the most tokens allowed today.
reply_why_daily_limit = the clinic has given out all of today's tokens.
reply_why_choose_line = the clinic has several lines. Send one of:
reply_why_no_line = that line does not exist. Please check the code on the poster.
reply_why_other = please ask at the reception.
reply_track = Live: { $link }

## WhatsApp templates (Meta approves each body; a placeable stands for a numbered parameter)
template_welcome =
    Welcome to { $clinic }. Your token is { $token } and { $ahead } people are ahead of you.
    Follow the queue live: { $link }
    We will message you when your turn is near.
template_reminder =
    Your turn at { $clinic } is coming: token { $token }, { $ahead } people ahead of you. Please be near the reception.
    Live queue: { $link }
    Thank you.
template_called =
    It is your turn now at { $clinic }: token { $token }, please go in.
    Details: { $link }
    Thank you.
template_delay =
    Sorry, the doctor at { $clinic } is running about { $minutes } minutes late. Token { $token } keeps its place.
    Live queue: { $link }
    Thank you for waiting.

## Quick-reply buttons: at most 25 characters each
button_status = My status
button_cancel = Cancel my token
button_stop = Stop messages
button_late = I will be late

## Printed slip
slip_joined = Joined at { $time }
slip_scan = Scan to follow your turn on a phone
slip_print = Print
slip_room = Room: { $room }

## Kiosk at the door
kiosk_title = Get your token here
kiosk_lead = Type your name, then press the button below. Your token slip prints here.
kiosk_phone_label = Mobile number (optional, for WhatsApp updates)
kiosk_take_slip = Please take your slip. Keep it until you are called.
kiosk_next = Next patient
kiosk_busy = Many tokens were taken at this kiosk just now. Please wait a minute or ask at the reception.
kiosk_phone_taken = This number already has a token today. Please ask at the reception.
kiosk_closed = Please ask at the reception for your token.
