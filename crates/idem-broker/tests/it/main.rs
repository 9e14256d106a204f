//! Integration tests of the broker over the wire. One binary (see ARCHITECTURE.md).

#![allow(unreachable_pub)]

mod support;

mod admin_answers;
mod audit;
mod groups;
mod hostile;
mod lost_acks;
mod memory;
mod metrics;
mod protocol;
mod rdkafka_clients;
mod roll;
mod scenarios;
mod timestamps;
