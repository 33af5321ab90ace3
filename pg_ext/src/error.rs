//! One error type for the extension. Every refusal names its `Reason`: one enum, one
//! conversion into the `ErrorReport` pgrx raises. The SQLSTATE (sql/API.md) lets the server
//! map it 1:1 to HTTP; the message is written for a receptionist; the DETAIL
//! `qlink:<reason>` lets a program (the server, its pages) tell refusals apart without
//! reading English, since one SQLSTATE covers several conditions (54000 is three limits).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::PgSqlErrorCode;
use pgrx::spi::SpiError;

/// Why a call was refused. `name()` is the stable, documented string (sql/API.md); a
/// reason always goes with the same SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    // 22023: bad input.
    InvalidName,
    InvalidPhone,
    InvalidSource,
    InvalidLanguage,
    InvalidAction,
    ActionTakesNoToken,
    ActionNeedsToken,
    InvalidRating,
    InvalidFeedback,
    UnknownSetting,
    InvalidSetting,
    InvalidSlug,
    InvalidClinicName,
    InvalidClinicStatus,
    InvalidTimezone,
    InvalidAddress,
    InvalidEmail,
    InvalidPasswordHash,
    InvalidRole,
    InvalidArgument,
    QueueRequired,
    RoomRequired,
    InvalidQueueName,
    InvalidPrefix,
    InvalidRoomName,
    RoomWithoutQueues,
    TransferNeedsQueue,
    ActionTakesNoQueue,
    InvalidRange,
    InvalidMonth,
    InvalidPlanCode,
    InvalidPlanName,
    InvalidPrice,
    UnknownPlan,
    InvalidPhoneNumberId,
    InvalidWabaId,
    InvalidRecipientLimit,
    InvalidHoldMinutes,
    InvalidReminderPosition,
    InvalidDelay,
    InvalidDelayNote,
    // P0002: not found (or another clinic's).
    ClinicNotFound,
    TokenNotFound,
    TokenNotToday,
    StaffNotFound,
    UserNotFound,
    MessageNotFound,
    QueueNotFound,
    RoomNotFound,
    AccountNotFound,
    // 42501: not allowed now.
    ClinicSuspended,
    ClinicDisabled,
    QrIntakeOff,
    SessionClosed,
    StaffWrongClinic,
    StaffPinnedElsewhere,
    OwnerSettingForbidden,
    LoginRequired,
    LoginForbidden,
    KioskSignedOut,
    // 55000: the state does not allow it.
    NothingToUndo,
    UndoTokensChanged,
    NobodyServing,
    NotTheServingPatient,
    NotSkippable,
    NotRecallable,
    NotCancellable,
    TokenDayOver,
    FeedbackTooEarly,
    FeedbackAlreadyGiven,
    ResetWhileServing,
    DeleteLiveQueue,
    SlugTaken,
    EmailTaken,
    PrefixTaken,
    RoomNameTaken,
    LastActiveQueue,
    RoomServing,
    RoomInactive,
    QueueInactive,
    NotTransferable,
    TransferSameQueue,
    QueueWithoutRoom,
    LastActiveRoom,
    PlanCodeTaken,
    NotHoldable,
    AlreadyHeld,
    HoldExpired,
    HoldsDisabled,
    NotHeld,
    NotWaiting,
    RemindersOff,
    // 54000: a limit was reached.
    IpLimit,
    PhoneLimit,
    DailyTokenLimit,
    KioskLimit,
}

impl Reason {
    /// Every reason, for the documentation test.
    #[cfg(test)]
    pub const ALL: [Reason; 96] = [
        Reason::InvalidName,
        Reason::InvalidPhone,
        Reason::InvalidSource,
        Reason::InvalidLanguage,
        Reason::InvalidAction,
        Reason::ActionTakesNoToken,
        Reason::ActionNeedsToken,
        Reason::InvalidRating,
        Reason::InvalidFeedback,
        Reason::UnknownSetting,
        Reason::InvalidSetting,
        Reason::InvalidSlug,
        Reason::InvalidClinicName,
        Reason::InvalidClinicStatus,
        Reason::InvalidTimezone,
        Reason::InvalidAddress,
        Reason::InvalidEmail,
        Reason::InvalidPasswordHash,
        Reason::InvalidRole,
        Reason::InvalidArgument,
        Reason::QueueRequired,
        Reason::RoomRequired,
        Reason::InvalidQueueName,
        Reason::InvalidPrefix,
        Reason::InvalidRoomName,
        Reason::RoomWithoutQueues,
        Reason::TransferNeedsQueue,
        Reason::ActionTakesNoQueue,
        Reason::InvalidRange,
        Reason::InvalidMonth,
        Reason::InvalidPlanCode,
        Reason::InvalidPlanName,
        Reason::InvalidPrice,
        Reason::UnknownPlan,
        Reason::InvalidPhoneNumberId,
        Reason::InvalidWabaId,
        Reason::InvalidRecipientLimit,
        Reason::InvalidHoldMinutes,
        Reason::InvalidReminderPosition,
        Reason::InvalidDelay,
        Reason::InvalidDelayNote,
        Reason::ClinicNotFound,
        Reason::TokenNotFound,
        Reason::TokenNotToday,
        Reason::StaffNotFound,
        Reason::UserNotFound,
        Reason::MessageNotFound,
        Reason::QueueNotFound,
        Reason::RoomNotFound,
        Reason::AccountNotFound,
        Reason::ClinicSuspended,
        Reason::ClinicDisabled,
        Reason::QrIntakeOff,
        Reason::SessionClosed,
        Reason::StaffWrongClinic,
        Reason::StaffPinnedElsewhere,
        Reason::OwnerSettingForbidden,
        Reason::LoginRequired,
        Reason::LoginForbidden,
        Reason::KioskSignedOut,
        Reason::NothingToUndo,
        Reason::UndoTokensChanged,
        Reason::NobodyServing,
        Reason::NotTheServingPatient,
        Reason::NotSkippable,
        Reason::NotRecallable,
        Reason::NotCancellable,
        Reason::TokenDayOver,
        Reason::FeedbackTooEarly,
        Reason::FeedbackAlreadyGiven,
        Reason::ResetWhileServing,
        Reason::DeleteLiveQueue,
        Reason::SlugTaken,
        Reason::EmailTaken,
        Reason::PrefixTaken,
        Reason::RoomNameTaken,
        Reason::LastActiveQueue,
        Reason::RoomServing,
        Reason::RoomInactive,
        Reason::QueueInactive,
        Reason::NotTransferable,
        Reason::TransferSameQueue,
        Reason::QueueWithoutRoom,
        Reason::LastActiveRoom,
        Reason::PlanCodeTaken,
        Reason::NotHoldable,
        Reason::AlreadyHeld,
        Reason::HoldExpired,
        Reason::HoldsDisabled,
        Reason::NotHeld,
        Reason::NotWaiting,
        Reason::RemindersOff,
        Reason::IpLimit,
        Reason::PhoneLimit,
        Reason::DailyTokenLimit,
        Reason::KioskLimit,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Reason::InvalidName => "invalid_name",
            Reason::InvalidPhone => "invalid_phone",
            Reason::InvalidSource => "invalid_source",
            Reason::InvalidLanguage => "invalid_language",
            Reason::InvalidAction => "invalid_action",
            Reason::ActionTakesNoToken => "action_takes_no_token",
            Reason::ActionNeedsToken => "action_needs_token",
            Reason::InvalidRating => "invalid_rating",
            Reason::InvalidFeedback => "invalid_feedback",
            Reason::UnknownSetting => "unknown_setting",
            Reason::InvalidSetting => "invalid_setting",
            Reason::InvalidSlug => "invalid_slug",
            Reason::InvalidClinicName => "invalid_clinic_name",
            Reason::InvalidClinicStatus => "invalid_clinic_status",
            Reason::InvalidTimezone => "invalid_timezone",
            Reason::InvalidAddress => "invalid_address",
            Reason::InvalidEmail => "invalid_email",
            Reason::InvalidPasswordHash => "invalid_password_hash",
            Reason::InvalidRole => "invalid_role",
            Reason::InvalidArgument => "invalid_argument",
            Reason::QueueRequired => "queue_required",
            Reason::RoomRequired => "room_required",
            Reason::InvalidQueueName => "invalid_queue_name",
            Reason::InvalidPrefix => "invalid_prefix",
            Reason::InvalidRoomName => "invalid_room_name",
            Reason::RoomWithoutQueues => "room_without_queues",
            Reason::TransferNeedsQueue => "transfer_needs_queue",
            Reason::ActionTakesNoQueue => "action_takes_no_queue",
            Reason::InvalidRange => "invalid_range",
            Reason::InvalidMonth => "invalid_month",
            Reason::InvalidPlanCode => "invalid_plan_code",
            Reason::InvalidPlanName => "invalid_plan_name",
            Reason::InvalidPrice => "invalid_price",
            Reason::UnknownPlan => "unknown_plan",
            Reason::InvalidPhoneNumberId => "invalid_phone_number_id",
            Reason::InvalidWabaId => "invalid_waba_id",
            Reason::InvalidRecipientLimit => "invalid_recipient_limit",
            Reason::ClinicNotFound => "clinic_not_found",
            Reason::TokenNotFound => "token_not_found",
            Reason::TokenNotToday => "token_not_today",
            Reason::StaffNotFound => "staff_not_found",
            Reason::UserNotFound => "user_not_found",
            Reason::MessageNotFound => "message_not_found",
            Reason::QueueNotFound => "queue_not_found",
            Reason::RoomNotFound => "room_not_found",
            Reason::AccountNotFound => "account_not_found",
            Reason::ClinicSuspended => "clinic_suspended",
            Reason::ClinicDisabled => "clinic_disabled",
            Reason::QrIntakeOff => "qr_intake_off",
            Reason::SessionClosed => "session_closed",
            Reason::StaffWrongClinic => "staff_wrong_clinic",
            Reason::StaffPinnedElsewhere => "staff_pinned_elsewhere",
            Reason::OwnerSettingForbidden => "owner_setting_forbidden",
            Reason::LoginRequired => "login_required",
            Reason::LoginForbidden => "login_forbidden",
            Reason::KioskSignedOut => "kiosk_signed_out",
            Reason::NothingToUndo => "nothing_to_undo",
            Reason::UndoTokensChanged => "undo_tokens_changed",
            Reason::NobodyServing => "nobody_serving",
            Reason::NotTheServingPatient => "not_the_serving_patient",
            Reason::NotSkippable => "not_skippable",
            Reason::NotRecallable => "not_recallable",
            Reason::NotCancellable => "not_cancellable",
            Reason::TokenDayOver => "token_day_over",
            Reason::FeedbackTooEarly => "feedback_too_early",
            Reason::FeedbackAlreadyGiven => "feedback_already_given",
            Reason::ResetWhileServing => "reset_while_serving",
            Reason::DeleteLiveQueue => "delete_live_queue",
            Reason::SlugTaken => "slug_taken",
            Reason::EmailTaken => "email_taken",
            Reason::PrefixTaken => "prefix_taken",
            Reason::RoomNameTaken => "room_name_taken",
            Reason::LastActiveQueue => "last_active_queue",
            Reason::RoomServing => "room_serving",
            Reason::RoomInactive => "room_inactive",
            Reason::QueueInactive => "queue_inactive",
            Reason::NotTransferable => "not_transferable",
            Reason::TransferSameQueue => "transfer_same_queue",
            Reason::QueueWithoutRoom => "queue_without_room",
            Reason::LastActiveRoom => "last_active_room",
            Reason::PlanCodeTaken => "plan_code_taken",
            Reason::InvalidHoldMinutes => "invalid_hold_minutes",
            Reason::InvalidReminderPosition => "invalid_reminder_position",
            Reason::InvalidDelay => "invalid_delay",
            Reason::InvalidDelayNote => "invalid_delay_note",
            Reason::NotHoldable => "not_holdable",
            Reason::AlreadyHeld => "already_held",
            Reason::HoldExpired => "hold_expired",
            Reason::HoldsDisabled => "holds_disabled",
            Reason::NotHeld => "not_held",
            Reason::NotWaiting => "not_waiting",
            Reason::RemindersOff => "reminders_off",
            Reason::IpLimit => "ip_limit",
            Reason::PhoneLimit => "phone_limit",
            Reason::DailyTokenLimit => "daily_token_limit",
            Reason::KioskLimit => "kiosk_limit",
        }
    }

    pub fn sqlstate(self) -> PgSqlErrorCode {
        use Reason::*;
        match self {
            InvalidName
            | InvalidPhone
            | InvalidSource
            | InvalidLanguage
            | InvalidAction
            | ActionTakesNoToken
            | ActionNeedsToken
            | InvalidRating
            | InvalidFeedback
            | UnknownSetting
            | InvalidSetting
            | InvalidSlug
            | InvalidClinicName
            | InvalidClinicStatus
            | InvalidTimezone
            | InvalidAddress
            | InvalidEmail
            | InvalidPasswordHash
            | InvalidRole
            | InvalidArgument
            | QueueRequired
            | RoomRequired
            | InvalidQueueName
            | InvalidPrefix
            | InvalidRoomName
            | RoomWithoutQueues
            | TransferNeedsQueue
            | ActionTakesNoQueue
            | InvalidRange
            | InvalidMonth
            | InvalidPlanCode
            | InvalidPlanName
            | InvalidPrice
            | UnknownPlan
            | InvalidPhoneNumberId
            | InvalidWabaId
            | InvalidRecipientLimit
            | InvalidHoldMinutes
            | InvalidReminderPosition
            | InvalidDelay
            | InvalidDelayNote => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ClinicNotFound | TokenNotFound | TokenNotToday | StaffNotFound | UserNotFound | MessageNotFound
            | QueueNotFound | RoomNotFound | AccountNotFound => PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            ClinicSuspended
            | ClinicDisabled
            | QrIntakeOff
            | SessionClosed
            | StaffWrongClinic
            | StaffPinnedElsewhere
            | OwnerSettingForbidden
            | LoginRequired
            | LoginForbidden
            | KioskSignedOut => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            NothingToUndo | UndoTokensChanged | NobodyServing | NotTheServingPatient | NotSkippable | NotRecallable
            | NotCancellable | TokenDayOver | FeedbackTooEarly | FeedbackAlreadyGiven | ResetWhileServing
            | DeleteLiveQueue | SlugTaken | EmailTaken | PrefixTaken | RoomNameTaken | LastActiveQueue
            | RoomServing | RoomInactive | QueueInactive | NotTransferable | TransferSameQueue | QueueWithoutRoom
            | LastActiveRoom | PlanCodeTaken | NotHoldable | AlreadyHeld | HoldExpired | HoldsDisabled | NotHeld
            | NotWaiting | RemindersOff => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            IpLimit | PhoneLimit | DailyTokenLimit | KioskLimit => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        }
    }

    /// The readable message of a refusal whose text never varies.
    pub fn message(self) -> &'static str {
        use Reason::*;
        match self {
            InvalidPhone => "Please enter a valid 10-digit mobile number.",
            ClinicNotFound => "Clinic not found.",
            TokenNotFound => "Token not found.",
            TokenNotToday => "This token is not in today's queue.",
            StaffNotFound => "Staff user not found.",
            UserNotFound => "User not found.",
            MessageNotFound => "Message not found.",
            ClinicSuspended => "This clinic is suspended. Please contact QLink support.",
            ClinicDisabled => "This clinic is not taking patients through QLink.",
            QrIntakeOff => "This clinic is not giving tokens by QR code right now. Please ask at the reception.",
            SessionClosed => "The clinic has closed today's queue. Please ask at the reception.",
            StaffWrongClinic => "This staff user does not belong to this clinic.",
            NothingToUndo => "There is nothing to undo.",
            UndoTokensChanged => "The last action can't be undone because those patients' tokens changed since.",
            NobodyServing => "Nobody is being served right now.",
            NotTheServingPatient => "That patient is not the one being served.",
            NotSkippable => "Only a waiting or called patient can be skipped.",
            NotRecallable => "Only a skipped patient can be recalled.",
            NotCancellable => "Only a waiting patient can be cancelled.",
            TokenDayOver => "This token is not in today's queue any more.",
            FeedbackTooEarly => "Feedback can be given once you have been seen.",
            FeedbackAlreadyGiven => "Feedback for this visit was already given. Thank you!",
            ResetWhileServing => "A patient is being served. Mark them served or skip them before resetting the queue.",
            DeleteLiveQueue => {
                "This clinic has patients waiting or being served today. Finish or reset the queue before deleting it."
            }
            IpLimit => {
                "Too many tokens were taken from this network. Please wait a few minutes or ask at the reception."
            }
            PhoneLimit => "This mobile number already has a token today.",
            QueueNotFound => "Queue not found.",
            RoomNotFound => "Room not found.",
            StaffPinnedElsewhere => "This login works in another room.",
            LoginRequired => "Please log in.",
            LoginForbidden => "This login may not do that.",
            KioskSignedOut => "This kiosk is signed out. A staff member signs in on it to open it again.",
            KioskLimit => "This kiosk has taken many tokens in the last few minutes. Please wait a moment or ask at the reception.",
            InvalidPrefix => "A prefix is 0 to 3 capital letters (A, B, DR …).",
            InvalidQueueName => "A queue's name must be 1–80 characters.",
            InvalidRoomName => "A room's name must be 1–40 characters.",
            InvalidPlanName => "A plan's name must be 1–80 characters.",
            RoomWithoutQueues => "A room must call from at least one queue of the clinic.",
            TransferNeedsQueue => "TRANSFER needs the queue to move the patient to.",
            ActionTakesNoQueue => "Only TRANSFER takes a target queue.",
            LastActiveQueue => "This is the clinic's last active queue: add or activate another one first.",
            RoomServing => "A patient is being served in this room. Mark them served or skip them first.",
            RoomInactive => "This room is not in use. Activate it first.",
            QueueInactive => "This line is not taking patients now. Please choose another one.",
            NotTransferable => "Only a waiting or called patient can be moved to another queue.",
            TransferSameQueue => "The patient is already in that queue.",
            QueueWithoutRoom => {
                "Nobody is calling patients of this line now. Please choose another one or ask at the reception."
            }
            LastActiveRoom => "This is the clinic's last room in use: add or activate another one first.",
            DailyTokenLimit => "The clinic has given out all of today's tokens. Please ask at the reception.",
            InvalidPhoneNumberId => "A WhatsApp phone number id is 5 to 32 digits (Meta's WhatsApp Manager shows it).",
            InvalidWabaId => "A WhatsApp business account id is 5 to 32 digits.",
            InvalidRecipientLimit => "The daily recipient limit must be from 1 to 1,000,000.",
            AccountNotFound => "WhatsApp business account not found.",
            InvalidReminderPosition => "Choose a reminder from 1 to 10 people ahead.",
            InvalidDelay => "A delay is 0 (none) to 240 minutes.",
            InvalidDelayNote => "A delay note is at most 200 characters, on one line.",
            NotHoldable => "Only a waiting patient can step out.",
            AlreadyHeld => "Your place is already held.",
            HoldExpired => {
                "Your time away ran out, so your turn was skipped. Please ask at the reception to be called again."
            }
            HoldsDisabled => "This clinic does not hold places for patients who step out.",
            NotHeld => "You have not stepped out: your place is as it was.",
            NotWaiting => "Only a waiting patient can do that.",
            RemindersOff => "This clinic does not send reminders.",
            _ => "The request was refused.",
        }
    }
}

/// A refusal: the reason and the message a person reads.
#[derive(Debug)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl From<Refusal> for ErrorReport {
    fn from(r: Refusal) -> Self {
        ErrorReport::new(r.reason.sqlstate(), r.message, "qlink").set_detail(format!("qlink:{}", r.reason.name()))
    }
}

#[derive(Debug)]
pub enum QError {
    Refused(Refusal),
    Spi(SpiError),
}

pub type QResult<T> = Result<T, QError>;

impl From<SpiError> for QError {
    fn from(e: SpiError) -> Self {
        QError::Spi(e)
    }
}

impl QError {
    pub fn into_report(self) -> ErrorReport {
        match self {
            QError::Refused(r) => r.into(),
            QError::Spi(e) => {
                ErrorReport::new(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("qlink internal error: {e}"), "qlink")
            }
        }
    }

    /// The message of a refusal, for unit tests of pure code.
    #[cfg(test)]
    pub fn message(&self) -> String {
        match self {
            QError::Refused(r) => r.message.clone(),
            QError::Spi(e) => e.to_string(),
        }
    }

    /// The reason of a refusal (None for an internal error).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            QError::Refused(r) => Some(r.reason),
            QError::Spi(_) => None,
        }
    }
}

/// A refusal with its own message (one that names the offending value).
pub fn refuse(reason: Reason, message: impl Into<String>) -> QError {
    QError::Refused(Refusal { reason, message: message.into() })
}

/// A refusal with the reason's fixed message.
pub fn refused(reason: Reason) -> QError {
    refuse(reason, reason.message())
}

/// Runs a function body and turns its error into the `ErrorReport` pgrx raises.
pub fn run<T>(body: impl FnOnce() -> QResult<T>) -> Result<T, ErrorReport> {
    body().map_err(QError::into_report)
}

/// A bad argument of an internal call (the worker's, the housekeeping's): no patient or
/// receptionist meets these, so one reason covers them.
pub fn invalid_argument(message: impl Into<String>) -> QError {
    refuse(Reason::InvalidArgument, message)
}

#[cfg(test)]
mod unit {
    use super::*;

    /// sql/API.md has a row `| `reason` | SQLSTATE | … |` for every reason, with its SQLSTATE.
    #[test]
    fn every_reason_is_documented_with_its_sqlstate() {
        let doc = include_str!("../../sql/API.md");
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(seen.insert(reason.name()), "{} twice", reason.name());
            let code = match reason.sqlstate() {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE => "22023",
                PgSqlErrorCode::ERRCODE_NO_DATA_FOUND => "P0002",
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE => "42501",
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE => "55000",
                PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED => "54000",
                other => panic!("{other:?} is not a SQLSTATE of sql/API.md"),
            };
            let row = format!("| `{}` | `{code}` |", reason.name());
            assert!(doc.contains(&row), "sql/API.md lacks the row {row}");
        }
    }

    #[test]
    fn a_refusal_becomes_sqlstate_message_and_detail() {
        let report: ErrorReport = Refusal { reason: Reason::PhoneLimit, message: "m".into() }.into();
        assert_eq!(report.message(), "m");
        assert_eq!(report.detail(), Some("qlink:phone_limit"));
        assert_eq!(refused(Reason::PhoneLimit).reason(), Some(Reason::PhoneLimit));
    }
}
