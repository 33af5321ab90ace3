//! `qlink demo`: a demo clinic with a receptionist, a clinic owner and an operator login, to
//! try QLink with. Each run gives the logins fresh random passwords and prints them.

use crate::config::DbArgs;
use crate::{accounts, sql};
use anyhow::Context;

pub const DEMO_SLUG: &str = "demo-clinic";
pub const DEMO_STAFF_EMAIL: &str = "reception@demo-clinic.qlink.test";
pub const DEMO_OWNER_EMAIL: &str = "owner@demo-clinic.qlink.test";
pub const DEMO_ADMIN_EMAIL: &str = "admin@qlink.test";

async fn ensure_login(
    client: &deadpool_postgres::Client,
    email: &str,
    role: &str,
    business: Option<uuid::Uuid>,
) -> anyhow::Result<String> {
    let password = accounts::random_password();
    let hash = accounts::hash_password(&password)?;
    if sql::staff_for_login(client, email).await?.is_some() {
        sql::set_staff_password(client, email, &hash).await?;
    } else {
        sql::create_staff_user(client, None, email, &hash, role, business, None)
            .await
            .with_context(|| format!("creating the demo login {email}"))?;
    }
    Ok(password)
}

pub async fn run(db: &DbArgs, public_url: &str) -> anyhow::Result<()> {
    let pool = crate::db::pool(db.owner_config()?, 1)?;
    let client = pool.get().await.context("connecting to the database")?;
    let id = match sql::clinic_by_slug(&client, DEMO_SLUG).await {
        Ok(clinic) => clinic.business_id,
        Err(_) => sql::create_business(
            &client,
            None,
            &sql::NewBusiness {
                slug: DEMO_SLUG,
                name: "QLink Demo Clinic",
                status: Some("TRIAL"),
                address: Some("MG Road, Bengaluru"),
                ..Default::default()
            },
            None,
        )
        .await
        .context("creating the demo clinic")?,
    };
    let staff_password = ensure_login(&client, DEMO_STAFF_EMAIL, "STAFF", Some(id)).await?;
    let owner_password = ensure_login(&client, DEMO_OWNER_EMAIL, "OWNER", Some(id)).await?;
    let admin_password = ensure_login(&client, DEMO_ADMIN_EMAIL, "SUPER_ADMIN", None).await?;
    let base = public_url.trim_end_matches('/');
    println!("Demo clinic \"{DEMO_SLUG}\" ({id})");
    println!();
    println!("  Patients join at     {base}/c/{DEMO_SLUG}");
    println!("  Receptionist         {base}/staff   {DEMO_STAFF_EMAIL} / {staff_password}");
    println!("  Clinic owner         {base}/owner   {DEMO_OWNER_EMAIL} / {owner_password}");
    println!("                       (add doctors' lines, rooms and receptionists there)");
    println!("  Operator             {base}/admin   {DEMO_ADMIN_EMAIL} / {admin_password}");
    println!();
    println!("From the command line (API):");
    println!("  curl -c jar -H 'Content-Type: application/json' -d '{{\"email\":\"{DEMO_STAFF_EMAIL}\",\"password\":\"{staff_password}\"}}' {base}/api/v1/auth/login");
    println!("  curl -b jar -H 'Origin: {base}' -H 'Content-Type: application/json' -d '{{\"action\":\"NEXT\"}}' {base}/api/v1/staff/queue/actions");
    println!();
    println!("From psql:");
    println!("  SELECT * FROM qlink.create_token('{id}', 'Asha Rao', '9876543210');");
    println!("  SELECT * FROM qlink.queue_action('{id}', 'NEXT');");
    println!("  SELECT * FROM qlink.queue_snapshot('{id}');");
    Ok(())
}
