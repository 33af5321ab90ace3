#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_is_reported() {
        assert_eq!(Spi::get_one::<&str>("SELECT qlink.qlink_version()").unwrap(), Some(env!("CARGO_PKG_VERSION")));
    }
}
