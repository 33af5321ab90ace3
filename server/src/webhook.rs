// TEMPORARY STUB so the server compiles; the messaging engineer replaces this whole file.
#[derive(Clone)]
pub struct WebhookState { pub pool: deadpool_postgres::Pool, pub verify_token: Option<crate::config::Secret>, pub app_secret: Option<crate::config::Secret> }
pub fn routes<S>() -> axum::Router<S> where S: Clone + Send + Sync + 'static, WebhookState: axum::extract::FromRef<S> { axum::Router::new() }
