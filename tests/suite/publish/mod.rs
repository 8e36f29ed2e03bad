//! What goes out: the static status page and webhooks.

mod metrics;
mod page;
mod webhooks;
