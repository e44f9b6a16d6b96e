//! `yealink-prov pbx ...`: the innovaphone connection.

use anyhow::bail;
use clap::Subcommand;

use prov_core::config::Config;

use super::shared::{open_service, parse_mac};

#[derive(Subcommand, Debug)]
pub enum PbxCommand {
    /// Print the App object to create on the PBX (no PBX Manager plugin needed). Contains the
    /// instance password; without a configured one, generates one (16 characters, shown once).
    AppObject {
        /// The App object's long name, shown in myApps Profile.
        #[arg(long, default_value = "Yealink")]
        name: String,
        /// Its SIP name.
        #[arg(long, default_value = "yealink")]
        sip: String,
        /// Replace the generated instance password with a new one (the App object's password
        /// must then be changed too).
        #[arg(long)]
        new_password: bool,
    },
    /// The innovaphone side of one phone: user, Devices configuration, user-object update.
    Show {
        mac: String,
        #[arg(long)]
        json: bool,
    },
}

/// The instance password for the printout: `shown` is `None` when it was generated earlier
/// (shown once, like the admin password).
struct PrintedPassword {
    shown: Option<String>,
    note: Option<String>,
}

async fn app_object_password(
    config: &Config,
    service: &prov_core::service::Service,
    renew: bool,
) -> anyhow::Result<PrintedPassword> {
    use crate::app_service::META_INSTANCE_PASSWORD;
    if let Some(password) = &config.innovaphone.password {
        if renew {
            bail!(
                "innovaphone.password is set in the configuration; change it there (at most \
                 {} characters, 16 recommended)",
                prov_core::config::INSTANCE_PASSWORD_MAX
            );
        }
        return Ok(PrintedPassword {
            shown: Some(password.expose().to_owned()),
            note: None,
        });
    }
    let store = service.store();
    let stored = store.get_meta(META_INSTANCE_PASSWORD).await?;
    if stored.as_deref().is_some_and(|p| !p.is_empty()) && !renew {
        return Ok(PrintedPassword {
            shown: None,
            note: Some(
                "The instance password was generated earlier and is shown only once; run with \
                 --new-password to replace it (then enter the new one on the App object)."
                    .into(),
            ),
        });
    }
    let fresh = prov_core::secret::random_token(prov_core::config::INSTANCE_PASSWORD_LEN);
    store.set_meta(META_INSTANCE_PASSWORD, &fresh).await?;
    Ok(PrintedPassword {
        shown: Some(fresh),
        note: Some(
            "The instance password above was generated now and is shown only this once. \
             Restart yealink-prov so that it uses it."
                .into(),
        ),
    })
}

pub async fn run_pbx(config: &Config, command: PbxCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        PbxCommand::AppObject {
            name,
            sip,
            new_password,
        } => {
            let password = app_object_password(config, &service, new_password).await?;
            let object = crate::app_service::app_object::AppObject {
                name,
                sip,
                url: format!("{}{}", service.base_url(), config.innovaphone.path),
                password: password.shown,
            };
            if service.settings().public_base_url.is_none() && service.learned_app_url().is_none() {
                eprintln!(
                    "note: no public base URL is set, so the URL below is this host's listen \
                     address; set one with `yealink-prov settings set public_base_url=https://...`"
                );
            }
            print!("{}", object.text());
            if let Some(note) = password.note {
                println!("\n{note}");
            }
            Ok(())
        }
        PbxCommand::Show { mac, json } => {
            let mac = parse_mac(&mac)?;
            let Some(doc) =
                prov_core::pbx::record::PbxDevice::load(service.store().as_ref(), mac).await?
            else {
                bail!("{mac} is not an innovaphone phone (no ProvisioningPhone from Users yet)");
            };
            // The sysclient runs in the server; this process can only say what is stored.
            let view = prov_core::pbx::record::PbxDeviceView::new(
                &doc,
                crate::app_service::sysclient::LinkState {
                    status: "see the running server".into(),
                    ..Default::default()
                },
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("user           {} ({})", view.user_cn, view.user_sip);
                println!("hardware id    {}", view.hwid);
                println!("registrar      {}", view.registrar);
                println!("device config  {}", view.device_config);
                println!("items          {}", view.config_items.join(", "));
                for note in &view.mapping_notes {
                    println!("note           {note}");
                }
                match &view.pbx_update {
                    Some(u) => println!(
                        "user object    {} {}",
                        if u.ok { "updated:" } else { "FAILED:" },
                        u.text
                    ),
                    None => println!(
                        "user object    not updated yet (the phone has not fetched its file)"
                    ),
                }
            }
            Ok(())
        }
    }
}
