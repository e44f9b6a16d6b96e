//! The tenants' sites: every tenant other than the default one is served under its path
//! prefix `/<domain>/<name>` (the App Platform's `/<domain>/<instance>/`) by a router and a
//! phone endpoint of its own, whose state holds that tenant's service only. The listeners ask
//! [`Sites::find`] for each request; a request under no tenant's prefix is the default
//! tenant's, served as before (docs/tenants.md).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::Uri;
use parking_lot::RwLock;

use crate::phone::http::PhoneEndpoint;
use crate::web::state::AppState;

/// One tenant's handlers, for the plain and the TLS listener.
pub struct Site {
    pub state: AppState,
    /// The tenant's innovaphone endpoint, once its App object password exists.
    pub innovaphone: Option<Arc<crate::app_service::Innovaphone>>,
    plain: Router,
    tls: Router,
}

impl Site {
    pub fn new(
        state: AppState,
        router: Router,
        innovaphone: Option<Arc<crate::app_service::Innovaphone>>,
    ) -> Site {
        let tls = router
            .clone()
            .layer(axum::Extension(crate::web::request::OverTls(true)));
        Site {
            state,
            innovaphone,
            plain: router,
            tls,
        }
    }

    pub fn router(&self, tls: bool) -> Router {
        if tls {
            self.tls.clone()
        } else {
            self.plain.clone()
        }
    }

    pub fn phones(&self, tls: bool) -> PhoneEndpoint {
        PhoneEndpoint::new(self.state.clone(), tls)
    }
}

/// The sites by path prefix; shared by the listeners and the task that keeps them in step
/// with the tenants table.
#[derive(Clone, Default)]
pub struct Sites(Arc<RwLock<HashMap<String, Arc<Site>>>>);

impl Sites {
    /// The site whose prefix `path` starts with (`/<domain>/<name>` followed by `/` or the
    /// end), and the length of that prefix.
    pub fn find(&self, path: &str) -> Option<(Arc<Site>, usize)> {
        let sites = self.0.read();
        if sites.is_empty() {
            return None;
        }
        let rest = path.strip_prefix('/')?;
        let (domain, rest) = rest.split_once('/')?;
        let name = rest.split('/').next()?;
        let len = 1 + domain.len() + 1 + name.len();
        sites.get(path.get(..len)?).map(|s| (s.clone(), len))
    }

    pub fn insert(&self, prefix: String, site: Arc<Site>) {
        self.0.write().insert(prefix, site);
    }

    pub fn remove(&self, prefix: &str) -> Option<Arc<Site>> {
        self.0.write().remove(prefix)
    }

    pub fn all(&self) -> Vec<Arc<Site>> {
        self.0.read().values().cloned().collect()
    }
}

/// `uri` without its first `prefix_len` bytes of path (the tenant's prefix); `/` when nothing
/// is left. The query stays.
pub fn strip_prefix(uri: &Uri, prefix_len: usize) -> Uri {
    let path = uri.path().get(prefix_len..).unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    // Built from a valid URI's own parts, so it parses; a bare "/" otherwise.
    path_and_query
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_cut_and_the_query_kept() {
        let uri: Uri = "/a.example.com/yealink/prov/tok/x.cfg?y=1".parse().unwrap();
        assert_eq!(
            strip_prefix(&uri, "/a.example.com/yealink".len()).to_string(),
            "/prov/tok/x.cfg?y=1"
        );
        let bare: Uri = "/a.example.com/yealink".parse().unwrap();
        assert_eq!(strip_prefix(&bare, bare.path().len()).to_string(), "/");
    }
}
