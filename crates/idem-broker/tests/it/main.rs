//! Integration tests of the broker over the wire. One binary (see ARCHITECTURE.md).

#![allow(unreachable_pub)]

mod support;

mod admin_answers;
mod groups;
mod hostile;
mod lost_acks;
mod metrics;
mod protocol;
mod rdkafka_clients;
mod scenarios;
mod timestamps;
