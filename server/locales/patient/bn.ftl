# QLink patient texts: Bengali (বাংলা).

## Shared
app_name = QLink
switch_language = ভাষা
now_serving = এখন ডাকা হচ্ছে
nobody_serving = —
waiting_count = { $n } জন অপেক্ষায়
token = টোকেন
footer_note = ক্লিনিকের লাইন — QLink

## Intake
intake_title = লাইনে যোগ দিন
intake_lead = টোকেন নিন আর আরাম করে অপেক্ষা করুন। আপনার পালা এলে আমরা জানিয়ে দেব।
name_label = আপনার নাম
phone_label = মোবাইল নম্বর
phone_hint = 10 সংখ্যার মোবাইল নম্বর
consent = আপনার ভিজিটের খবর আমরা এই নম্বরে WhatsApp-এ পাঠাব।
join_button = আমার টোকেন নিন
joining = আপনার টোকেন তৈরি হচ্ছে…
existing_token = আজ এখানে আপনার টোকেন { $n } আগে থেকেই আছে।
track_my_token = আমার টোকেন দেখুন
err_name = দয়া করে আপনার নাম লিখুন (80 অক্ষর পর্যন্ত)।
err_phone = দয়া করে সঠিক 10 সংখ্যার মোবাইল নম্বর লিখুন।
err_generic = কিছু একটা সমস্যা হয়েছে। দয়া করে আবার চেষ্টা করুন।
err_unavailable = পরিষেবাটি কিছুক্ষণের জন্য বন্ধ আছে। দয়া করে একটু পরে আবার চেষ্টা করুন।
err_offline = ইন্টারনেট সংযোগ নেই। দয়া করে সংযোগ দেখে নিয়ে আবার চেষ্টা করুন।
closed_title = আজকের লাইন বন্ধ
closed_body = ক্লিনিক এখন অনলাইনে টোকেন দিচ্ছে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
suspended_title = অনলাইন টোকেন পাওয়া যাচ্ছে না
suspended_body = এই ক্লিনিক এখন QLink দিয়ে রোগী নিচ্ছে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
limit_title = দয়া করে একটু অপেক্ষা করুন
limit_network = এই নেটওয়ার্ক থেকে অনেক বেশি টোকেন নেওয়া হয়েছে। দয়া করে কয়েক মিনিট অপেক্ষা করুন বা রিসেপশনে জিজ্ঞেস করুন।
limit_daily_title = আজকের টোকেন শেষ
limit_daily = ক্লিনিক আজকের সব টোকেন দিয়ে দিয়েছে। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
already_title = এই মোবাইল নম্বরে আজ আগে থেকেই টোকেন আছে
already_yours = এই ফোন থেকে নেওয়া আপনার টোকেন: { $n }
already_lost = লিংক হারিয়ে গেছে? সেটা আপনার WhatsApp মেসেজে আছে, অথবা রিসেপশনে জিজ্ঞেস করুন।
back_to_form = ফিরে যান
choose_line = আপনার ডাক্তার বেছে নিন
line_wait = { $n } জন অপেক্ষায় · প্রায় { $lo }–{ $hi } মিনিট
line_no_wait = কেউ অপেক্ষায় নেই: পরের পালা আপনার
line_inactive = আজ রোগী দেখছেন না
line_closed = আজকের মতো বন্ধ
line_full = আজকের টোকেন শেষ
line_unavailable = এখন অনলাইন টোকেন নেওয়া হচ্ছে না
err_pick_line = দয়া করে একজন ডাক্তার বেছে নিন।
join_whatsapp = WhatsApp-এ যোগ দিন
join_whatsapp_hint = অথবা WhatsApp চ্যাটে টোকেন নিন: মেসেজটা আগে থেকেই লেখা থাকবে, শুধু পাঠিয়ে দিন।
stop_whatsapp = এই ক্লিনিকের WhatsApp মেসেজ বন্ধ করতে STOP লিখে পাঠান।

## Not found / errors
notfound_title = পেজ পাওয়া যায়নি
notfound_body = এই লিংকটি সঠিক নয়। আপনার WhatsApp মেসেজের লিংকটি দেখুন, অথবা ক্লিনিকের QR কোড আবার স্ক্যান করুন।
error_title = কিছু একটা সমস্যা হয়েছে

## Tracking
your_token = আপনার টোকেন
your_line = ডাক্তার / লাইন
go_to_room = দয়া করে { $room }-এ যান
st_waiting = অপেক্ষায়
st_serving = আপনার পালা এসেছে
st_serving_body = দয়া করে এখন ডাক্তারের কাছে যান।
st_served = ডাক্তার দেখানো হয়ে গেছে
st_served_body = আসার জন্য ধন্যবাদ। তাড়াতাড়ি সুস্থ হয়ে উঠুন!
st_skipped = আপনার পালা পেরিয়ে গেছে
st_skipped_body = দয়া করে রিসেপশনে কথা বলুন: ওঁরা আপনাকে আবার ডেকে নিতে পারবেন।
st_cancelled = টোকেন বাতিল হয়েছে
st_cancelled_body = আপনি এখন আর লাইনে নেই।
position = লাইনে আপনার জায়গা
people_ahead = আপনার আগে { $n } জন
one_ahead = আপনার আগে 1 জন
you_are_next = এর পরেই আপনার পালা
eta = প্রায় { $lo }–{ $hi } মিনিট
eta_soon = যেকোনো মুহূর্তে
eta_label = আনুমানিক অপেক্ষা
progress_label = সামনে পৌঁছাতে আপনার অগ্রগতি
shift_alert = একজন জরুরি রোগীকে যোগ করা হয়েছে। আপনার জায়গা { $n } ধাপ পিছিয়ে গেছে।
dismiss = ঠিক আছে
keep_open = এই পেজটি খোলা রাখুন: এটি নিজে থেকেই আপডেট হয়। আমরা আপনাকে WhatsApp-এও মেসেজ পাঠাব।
offline = আপনি অফলাইন আছেন। আবার অনলাইন হলে এই পেজ আপডেট হবে।
updated_at = আপডেট: { $time }
intake_closed_note = ক্লিনিক আজ নতুন টোকেন দেওয়া বন্ধ করেছে। আপনার জায়গা থাকবে।
cancel_button = আমি আসতে পারব না – টোকেন বাতিল করুন
cancel_confirm = টোকেন { $n } বাতিল করবেন? লাইনে আপনার জায়গা চলে যাবে।
cancel_yes = হ্যাঁ, বাতিল করুন
cancel_no = না, জায়গা রাখুন
feedback_title = আজ আপনার অভিজ্ঞতা কেমন ছিল?
rating_label = আপনার রেটিং (1 = খারাপ, 5 = খুব ভালো)
comment_label = মন্তব্য (ঐচ্ছিক)
feedback_send = মতামত পাঠান
feedback_pick = দয়া করে 1 থেকে 5-এর মধ্যে রেটিং বেছে নিন।
feedback_thanks = আপনার মতামতের জন্য ধন্যবাদ!

## Tracking: stepping out, coming back, reminders, a doctor's delay (SPEC §12)
hold_button = বাইরে যাচ্ছি – জায়গা রাখুন
hold_explain = বাইরে যেতে হবে? আমরা { $minutes } মিনিট পর্যন্ত আপনার জায়গা রাখব। ফিরে এসে “আমি ফিরে এসেছি” চাপুন।
held_title = আপনি বাইরে গেছেন
held_until = { $time } পর্যন্ত আপনার জায়গা রাখা আছে। এর মধ্যে আপনার পালা এলে পরের রোগীকে আগে ডাকা হবে।
return_button = আমি ফিরে এসেছি
returned_place = ফিরে আসায় স্বাগত। আপনার জায়গা আবার পেয়ে গেছেন।
returned_front = ফিরে আসায় স্বাগত। আপনি বাইরে থাকার সময় আপনার পালা পেরিয়ে গেছে, তাই এখন আপনি সবার সামনে।
hold_expired = আপনি সময়মতো ফেরেননি, তাই আপনার পালা বাদ দেওয়া হয়েছে। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
err_hold = এখন বাইরে যাওয়া যাবে না: আপনার টোকেন অপেক্ষায় নেই।
err_holds_off = এই ক্লিনিক বাইরে যাওয়া রোগীদের জায়গা রাখে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reminder_label = আমার আগে এতজন থাকলে আমাকে WhatsApp-এ মেসেজ করুন
reminder_save = সেভ করুন
reminder_saved = আপনার আগে { $n } জন থাকলে আমরা আপনাকে মেসেজ পাঠাব।
reminder_off = এই ক্লিনিক মনে করিয়ে দেওয়ার মেসেজ পাঠায় না।
delay_notice = ডাক্তার প্রায় { $minutes } মিনিট দেরিতে চলছেন। আনুমানিক অপেক্ষার সময়ে এটা ধরা আছে।
clock = { $half } { $hour }:{ $minute }
clock_am = সকাল
clock_pm = বিকেল

## Lobby display
display_next = পরের টোকেন
display_none_waiting = কেউ অপেক্ষায় নেই
display_away = বাইরে গেছেন (জায়গা রাখা আছে)
display_sound_on = আওয়াজ চালু করতে চাপুন
display_scan = লাইনে যোগ দিতে স্ক্যান করুন
callout = টোকেন নম্বর { $n }, দয়া করে ভিতরে আসুন
callout_room = টোকেন { $n }, { $room }
display_rooms = এখন ডাকা হচ্ছে
display_room_idle = খালি
display_waiting = অপেক্ষায় · আপনার নম্বর দেখুন

## Poster
poster_title = ওয়েটিং রুমের ভিড় এড়িয়ে চলুন
poster_step1 = আপনার ফোনের ক্যামেরা দিয়ে এই QR কোড স্ক্যান করুন।
poster_step2 = টোকেন পেতে আপনার নাম আর মোবাইল নম্বর লিখুন।
poster_step3 = লাইনে আপনার জায়গা লাইভ দেখুন; আপনার পালা এলে আমরা WhatsApp-এ মেসেজ পাঠাব।
poster_no_phone = স্মার্টফোন নেই? দয়া করে রিসেপশনে জিজ্ঞেস করুন।
poster_line = এই লাইনের জন্য: { $line }
poster_whatsapp = অথবা WhatsApp-এ যোগ দিন: { $number } নম্বরে JOIN { $code } লিখে পাঠান।

## WhatsApp replies (to what the patient wrote)
reply_joined = { $clinic }: আপনি লাইনে আছেন। আপনার টোকেন { $label }।
reply_ahead = আপনার আগে { $n } জন।
reply_next = এর পরেই আপনার পালা।
reply_eta = প্রায় { $lo }–{ $hi } মিনিট।
reply_waiting = { $clinic }: টোকেন { $label } অপেক্ষায় আছে।
reply_serving = { $clinic }: টোকেন { $label }, এখন আপনার পালা। দয়া করে ভিতরে যান।
reply_serving_room = { $clinic }: টোকেন { $label }, এখন আপনার পালা। দয়া করে { $room }-এ যান।
reply_served = { $clinic }: টোকেন { $label }-এর ডাক্তার দেখানো হয়ে গেছে। ধন্যবাদ!
reply_skipped = { $clinic }: টোকেন { $label }-এর পালা বাদ পড়েছে। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_was_cancelled = { $clinic }: টোকেন { $label } বাতিল হয়ে গেছে।
reply_cancelled = { $clinic }: টোকেন { $label } বাতিল করা হল। তাড়াতাড়ি সুস্থ হয়ে উঠুন।
reply_not_cancellable = { $clinic }: টোকেন { $label } আর বাতিল করা যাবে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_held = { $clinic }: টোকেন { $label }, আমরা { $minutes } মিনিট পর্যন্ত আপনার জায়গা রাখব। ফিরে এসে BACK লিখে পাঠান।
reply_hold_refused = { $clinic }: টোকেন { $label } এখন বাইরে যেতে পারবে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_holds_off = { $clinic } বাইরে যাওয়া রোগীদের জায়গা রাখে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_returned = { $clinic }: ফিরে আসায় স্বাগত, টোকেন { $label }। আপনার জায়গা আবার পেয়ে গেছেন।
reply_returned_front = { $clinic }: ফিরে আসায় স্বাগত, টোকেন { $label }। আপনার পালা পেরিয়ে গিয়েছিল, তাই এখন আপনি সবার সামনে।
reply_not_held = { $clinic }: টোকেন { $label } বাইরে যায়নি।
reply_hold_expired = { $clinic }: টোকেন { $label } অনেকক্ষণ বাইরে ছিল, তাই পালা বাদ দেওয়া হয়েছে। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_no_token = আজ আপনার কোনো টোকেন নেই। যোগ দিতে JOIN আর ক্লিনিকের পোস্টারে লেখা কোড পাঠান।
reply_stopped = আপনি আর { $clinic } থেকে মেসেজ পাবেন না। আবার চালু করতে START পাঠান।
reply_stopped_any = আপনি আর আমাদের থেকে মেসেজ পাবেন না। আবার চালু করতে START পাঠান।
reply_started = { $clinic }-এর মেসেজ আবার চালু হয়েছে।
reply_started_any = মেসেজ আবার চালু হয়েছে।
reply_help =
    পাঠান:
    যোগ <কোড> (JOIN) – টোকেন নিন (কোড ক্লিনিকের পোস্টারে আছে)
    অবস্থা (STATUS) – লাইনে আপনার জায়গা
    বাতিল (CANCEL) – আপনার টোকেন বাতিল
    দেরি (LATE) – বাইরে যান, জায়গা থাকবে
    ফিরেছি (BACK) – আপনি ফিরে এসেছেন
    বন্ধ (STOP) – মেসেজ বন্ধ
    শুরু (START) – মেসেজ আবার চালু
    সাহায্য (HELP) – এই তালিকা
reply_refused = দুঃখিত, টোকেন দেওয়া গেল না: { $why }
reply_why_unknown_clinic = এই ক্লিনিক কোডটি আমরা চিনতে পারছি না। দয়া করে পোস্টারে কোডটি দেখে নিন।
reply_why_no_phone = এই WhatsApp অ্যাকাউন্টে কোনো ফোন নম্বর দেখা যাচ্ছে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_why_not_taking = ক্লিনিক এখন WhatsApp-এ টোকেন দিচ্ছে না। দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_why_closed = আজকের লাইন বন্ধ।
reply_why_phone_limit = এই নম্বরে আজকের সর্বোচ্চ সংখ্যক টোকেন আগেই নেওয়া হয়ে গেছে।
reply_why_daily_limit = ক্লিনিক আজকের সব টোকেন দিয়ে দিয়েছে।
reply_why_choose_line = ক্লিনিকে একাধিক লাইন আছে। এগুলোর যেকোনো একটি পাঠান:
reply_why_no_line = এই লাইনটি নেই। দয়া করে পোস্টারে কোডটি দেখে নিন।
reply_why_other = দয়া করে রিসেপশনে জিজ্ঞেস করুন।
reply_track = লাইভ: { $link }

## WhatsApp templates (Meta approves each body; a placeable stands for a numbered parameter)
template_welcome =
    নমস্কার! { $clinic }-এ আপনাকে স্বাগত। আপনার টোকেন { $token }, আপনার আগে { $ahead } জন আছেন।
    লাইনের অবস্থা লাইভ দেখুন: { $link }
    আপনার পালা কাছে এলে আমরা আপনাকে মেসেজ পাঠাব।
template_reminder =
    নমস্কার, { $clinic }-এ আপনার পালা আসছে: টোকেন { $token }, আপনার আগে { $ahead } জন। দয়া করে রিসেপশনের কাছাকাছি থাকুন।
    লাইনের লাইভ অবস্থা: { $link }
    ধন্যবাদ।
template_called =
    নমস্কার, { $clinic }-এ এখন আপনার পালা: টোকেন { $token }, দয়া করে ভিতরে যান।
    বিস্তারিত: { $link }
    ধন্যবাদ।
template_delay =
    দুঃখিত, { $clinic }-এ ডাক্তার প্রায় { $minutes } মিনিট দেরিতে চলছেন। টোকেন { $token }-এর জায়গা ঠিক থাকবে।
    লাইনের লাইভ অবস্থা: { $link }
    অপেক্ষা করার জন্য ধন্যবাদ।

## Quick-reply buttons: at most 25 characters each
button_status = আমার অবস্থা
button_cancel = টোকেন বাতিল করুন
button_stop = মেসেজ বন্ধ করুন
button_late = আমার দেরি হবে

## Printed slip
slip_joined = যোগ দেওয়ার সময়: { $time }
slip_scan = ফোনে আপনার পালা দেখতে স্ক্যান করুন
slip_print = প্রিন্ট করুন
slip_room = ঘর: { $room }

## Kiosk at the door
kiosk_title = আপনার টোকেন এখানে নিন
kiosk_lead = আপনার নাম লিখে নিচের বোতাম চাপুন। আপনার টোকেন স্লিপ এখানেই ছাপা হবে।
kiosk_phone_label = মোবাইল নম্বর (ঐচ্ছিক, WhatsApp আপডেটের জন্য)
kiosk_take_slip = দয়া করে আপনার স্লিপ নিন। ডাকা না হওয়া পর্যন্ত রেখে দিন।
kiosk_next = পরের রোগী
kiosk_busy = এই কিয়স্ক থেকে এইমাত্র অনেক টোকেন নেওয়া হয়েছে। এক মিনিট অপেক্ষা করুন বা রিসেপশনে জিজ্ঞাসা করুন।
kiosk_phone_taken = এই নম্বরে আজ আগেই টোকেন আছে। দয়া করে রিসেপশনে জিজ্ঞাসা করুন।
kiosk_closed = আপনার টোকেনের জন্য দয়া করে রিসেপশনে জিজ্ঞাসা করুন।
