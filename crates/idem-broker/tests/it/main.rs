//! Integration tests of the broker over the wire. One binary (see ARCHITECTURE.md).

#![allow(unreachable_pub)]

mod support;

mod rdkafka_clients;
