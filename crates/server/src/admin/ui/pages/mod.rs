//! The page and fragment handlers. Each one reads or changes state through the service layer
//! and renders a template; validation and business rules stay in the service.

mod common;
mod device;
mod devices;
mod import;
mod rps;
mod settings;
mod tenants;

use axum::response::Redirect;

pub use device::{device_detail, edit_device, reveal_url};
pub use devices::{
    add_device, check_mac, device_row, device_rows, devices, remove_device, resend_redirect,
    update_device,
};
pub use import::{export_devices, import_devices};
pub use rps::rps_history;
pub use settings::{rps_status_panel, save_settings, settings};
pub use tenants::{add as add_tenant, page as tenants, remove as remove_tenant};

pub async fn home() -> Redirect {
    Redirect::to(&crate::web::site::path("/ui/devices"))
}
