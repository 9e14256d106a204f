-- idem cluster store, schema 1: the cluster, its brokers and producer ids.
-- Applied once, in one transaction, by whichever broker gets the migration lock first
-- (src/migrate.rs). Never edit a file once it has shipped: add the next one instead.

-- One row: the cluster's id, as Kafka's DescribeCluster and Metadata answer it.
CREATE TABLE idem_cluster (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    cluster_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Producer ids for InitProducerId: a sequence never hands out a value twice, even across
-- rolled-back transactions and crashes (gaps are fine). Kafka's ids start at 0.
CREATE SEQUENCE idem_producer_ids AS bigint MINVALUE 0 START WITH 0 NO CYCLE;

-- Live brokers. `epoch` rises with every registration of a node id, so a broker that was
-- replaced (or kill -9'd and restarted) cannot renew the lease of its old incarnation: the
-- fence that stops it acknowledging before another broker takes over its partitions.
CREATE TABLE idem_brokers (
    node_id          integer     PRIMARY KEY CHECK (node_id >= 0),
    host             text        NOT NULL,
    port             integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    epoch            bigint      NOT NULL CHECK (epoch > 0),
    lease_expires_at timestamptz NOT NULL
);
