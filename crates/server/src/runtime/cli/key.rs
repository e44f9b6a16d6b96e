//! `yealink-prov key ...`.

use clap::Subcommand;

use prov_core::config::Config;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Re-encrypt every secret with a new key and drop the old one from the key file. Stop
    /// the server(s) first: a running one cannot read what the new key sealed.
    Rotate,
}

/// `yealink-prov key rotate`.
pub async fn run_key(config: &Config, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Rotate => {
            let r = crate::runtime::key_file::rotate(config).await?;
            println!(
                "secrets re-encrypted with key {} ({} devices, {} meta values, {} PBX \
                 documents, {} local configs); old key(s) {} removed from {}",
                r.new_id,
                r.resealed.devices,
                r.resealed.meta,
                r.resealed.pbx_devices,
                r.resealed.local_cfgs,
                r.old_ids.join(", "),
                crate::runtime::key_file::key_file_path(config).0.display()
            );
            Ok(())
        }
    }
}
