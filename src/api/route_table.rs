//! The API's routes as a list one can read back: axum cannot list a router's routes, so the
//! router is built through [`RouteTable`], which remembers each path it adds. The conformance
//! test (`integration/openapi.rs`) compares [`super::served_paths`] with `openapi.yaml`, and
//! finds the methods of each path by asking the server (an unrouted method answers 405), so a
//! route added here and not described there fails it.

use axum::routing::MethodRouter;
use axum::Router;

use super::ApiState;

/// A router under construction and the paths it serves, in the order they were added.
pub(super) struct RouteTable {
    router: Router<ApiState>,
    paths: Vec<&'static str>,
}

impl RouteTable {
    pub(super) fn new() -> Self {
        RouteTable {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// [`Router::route`], remembering the path.
    pub(super) fn route(mut self, path: &'static str, methods: MethodRouter<ApiState>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    /// [`Router::merge`] of another table's routes.
    pub(super) fn merge(mut self, other: RouteTable) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    pub(super) fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    pub(super) fn into_router(self) -> Router<ApiState> {
        self.router
    }
}
