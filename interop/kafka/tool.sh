#!/usr/bin/env bash
# Run one of Kafka's command-line tools (a main class or a short alias) on the installed classpath.
#   tool.sh topics --bootstrap-server 127.0.0.1:9192 --list
#   tool.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9192 --list
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat >&2 <<'USAGE'
usage: tool.sh CLASS|ALIAS [args...]
aliases: topics console-producer console-consumer api-versions producer-perf consumer-perf
         e2e-latency get-offsets configs consumer-groups dump-log verifiable-producer
         verifiable-consumer metadata-quorum features transactions delete-records storage
USAGE
  exit 2
}
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage

# Aliases follow the bin/kafka-*.sh scripts of Kafka 4.1.1 (checked against the jars).
case "$1" in
  topics)              class=org.apache.kafka.tools.TopicCommand ;;
  console-producer)    class=org.apache.kafka.tools.ConsoleProducer ;;
  console-consumer)    class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  api-versions)        class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  producer-perf)       class=org.apache.kafka.tools.ProducerPerformance ;;
  consumer-perf)       class=org.apache.kafka.tools.ConsumerPerformance ;;
  e2e-latency)         class=org.apache.kafka.tools.EndToEndLatency ;;
  get-offsets)         class=org.apache.kafka.tools.GetOffsetShell ;;
  configs)             class=kafka.admin.ConfigCommand ;;   # still Scala, in kafka_2.13
  consumer-groups)     class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  dump-log)            class=kafka.tools.DumpLogSegments ;;
  verifiable-producer) class=org.apache.kafka.tools.VerifiableProducer ;;
  verifiable-consumer) class=org.apache.kafka.tools.VerifiableConsumer ;;
  metadata-quorum)     class=org.apache.kafka.tools.MetadataQuorumCommand ;;
  features)            class=org.apache.kafka.tools.FeatureCommand ;;
  transactions)        class=org.apache.kafka.tools.TransactionsCommand ;;
  delete-records)      class=org.apache.kafka.tools.DeleteRecordsCommand ;;
  storage)             class=kafka.tools.StorageTool ;;
  *.*)                 class=$1 ;;
  *)                   echo "tool.sh: unknown alias '$1'" >&2; usage ;;
esac
shift
ensure_installed
# -Xmx512M as in Kafka's bin scripts for tools; KAFKA_TOOL_OPTS adds JVM flags (e.g. -Xmx2G).
# shellcheck disable=SC2086
exec java -Xmx512M -XX:+UseG1GC -Djava.awt.headless=true ${KAFKA_TOOL_OPTS:-} \
  -Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" \
  -cp "$KAFKA_CP" "$class" "$@"
