//! Integration tests of the broker over the wire. One binary (see ARCHITECTURE.md).

#![allow(unreachable_pub)]

mod support;

mod hostile;
mod lost_acks;
mod rdkafka_clients;
mod scenarios;
