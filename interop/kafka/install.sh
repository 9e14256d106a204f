#!/usr/bin/env bash
# Install Apache Kafka's runtime classpath (broker + tools) from Maven Central into .cache/kafka/lib.
# Idempotent: a stamp file marks a complete install; Maven's ~/.m2 makes a re-install after
# `rm -rf .cache` (e.g. a fresh CI clone) fast and offline-capable.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if kafka_installed; then
  echo "kafka $KAFKA_VERSION already installed in $KAFKA_LIB" >&2
  exit 0
fi
command -v java >/dev/null || die "java not found (need Java 17+)"
command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"

mkdir -p "$KAFKA_CACHE"
# A throw-away pom whose only job is to resolve the dependency closure.
cat > "$KAFKA_CACHE/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.idem</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <properties>
    <kafka.version>$KAFKA_VERSION</kafka.version>
    <log4j.version>2.24.3</log4j.version>
  </properties>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>\${kafka.version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>\${kafka.version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>\${kafka.version}</version></dependency>
    <!-- Kafka's poms bring slf4j-api 1.7.36 but no backend (the broker would log nothing):
         add Log4j 2 with its SLF4J 1.x binding, as in Kafka's binary tarball. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>\${log4j.version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>\${log4j.version}</version></dependency>
  </dependencies>
</project>
POM

# Copy into a temp dir and swap it in, so an interrupted run never looks complete.
rm -rf "$KAFKA_LIB.tmp"
# Maven's output goes to a log (Debian's mvn prints colour escapes even with -q); shown on failure.
mvn -q -B -ntp -f "$KAFKA_CACHE/pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DoutputDirectory="$KAFKA_LIB.tmp" -DincludeScope=runtime >"$KAFKA_CACHE/mvn.log" 2>&1 \
  || { tail -n 40 "$KAFKA_CACHE/mvn.log" >&2; die "maven failed (full log: $KAFKA_CACHE/mvn.log)"; }
java -cp "$KAFKA_LIB.tmp/*" kafka.tools.StorageTool random-uuid >/dev/null \
  || die "classpath smoke test failed (kafka.tools.StorageTool random-uuid)"
rm -rf "$KAFKA_LIB"
mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
echo "kafka $KAFKA_VERSION" > "$KAFKA_STAMP"
echo "kafka $KAFKA_VERSION installed: $(ls "$KAFKA_LIB" | wc -l) jars in $KAFKA_LIB" >&2
