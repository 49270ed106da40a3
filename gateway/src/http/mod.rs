//! The HTTP API: terminal writes under `/v1`, reads for dashboards and workers,
//! health, readiness and metrics. Handlers are small; the work happens in [`Gateway`].

mod error;
mod extract;
mod health;
mod ingest;
pub mod openapi;
mod reads;
mod sse;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::gateway::Gateway;

pub use error::{retry_after_header, ApiError};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub metrics: PrometheusHandle,
    pub max_body_bytes: usize,
    pub max_batch_updates: usize,
}

/// The HTTP method of a [`Route`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteMethod {
    Get,
    Post,
    Put,
}

impl RouteMethod {
    /// The method's name, upper case (`"GET"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteMethod::Get => "GET",
            RouteMethod::Post => "POST",
            RouteMethod::Put => "PUT",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            RouteMethod::Get => MethodFilter::GET,
            RouteMethod::Post => MethodFilter::POST,
            RouteMethod::Put => MethodFilter::PUT,
        }
    }
}

/// One route of the API: what [`router`] serves and what the OpenAPI document must describe.
pub struct Route {
    pub method: RouteMethod,
    /// In axum's path syntax, which is OpenAPI's (`/v1/instances/{id}`).
    pub path: &'static str,
    /// Builds the route's handler for the method filter it is given (`on(filter, handler)`).
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

/// Every route the router serves, the one list of them: [`router`] registers these and the
/// OpenAPI tests check the document against them (`openapi::ROUTES` is this list).
pub const ROUTES: &[Route] = &[
    Route {
        method: RouteMethod::Post,
        path: "/v1/ingest",
        handler: |m| on(m, ingest::batch),
    },
    Route {
        method: RouteMethod::Put,
        path: "/v1/instances/{id}/state",
        handler: |m| on(m, ingest::instance_state),
    },
    Route {
        method: RouteMethod::Put,
        path: "/v1/instances/{id}/trades/{ticket}",
        handler: |m| on(m, ingest::trade_state),
    },
    Route {
        method: RouteMethod::Post,
        path: "/v1/instances/{id}/signals",
        handler: |m| on(m, ingest::signal),
    },
    Route {
        method: RouteMethod::Get,
        path: "/v1/instances",
        handler: |m| on(m, reads::instances),
    },
    Route {
        method: RouteMethod::Get,
        path: "/v1/instances/{id}",
        handler: |m| on(m, reads::instance),
    },
    Route {
        method: RouteMethod::Get,
        path: "/v1/instances/{id}/trades",
        handler: |m| on(m, reads::trades),
    },
    Route {
        method: RouteMethod::Get,
        path: "/v1/signals",
        handler: |m| on(m, reads::signals),
    },
    Route {
        method: RouteMethod::Get,
        path: "/v1/signals/stream",
        handler: |m| on(m, sse::stream),
    },
    Route {
        method: RouteMethod::Get,
        path: "/openapi.json",
        handler: |m| on(m, openapi::serve),
    },
    Route {
        method: RouteMethod::Get,
        path: "/healthz",
        handler: |m| on(m, health::healthz),
    },
    Route {
        method: RouteMethod::Get,
        path: "/readyz",
        handler: |m| on(m, health::readyz),
    },
    Route {
        method: RouteMethod::Get,
        path: "/metrics",
        handler: |m| on(m, health::metrics),
    },
];

/// The API: every route of [`ROUTES`], with the body limit and the shared state.
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)(route.method.filter()))
        })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}
