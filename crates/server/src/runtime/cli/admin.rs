//! `yealink-prov admin ...`.

use std::sync::Arc;

use clap::Subcommand;

use prov_core::config::Config;

use super::shared::open_service;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Replace the admin password with a new random one and print it.
    ResetPassword,
}

pub async fn run_admin(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        AdminCommand::ResetPassword => {
            let store: Arc<dyn prov_store::Store> = service.store().clone();
            let password = prov_core::admin_auth::reset_admin_password(store.as_ref()).await?;
            println!("new admin password: {password}");
        }
    }
    Ok(())
}
