//! What goes out: the static status page and webhooks.

mod page;
mod webhooks;
