import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/** Produce BOOTSTRAP TOPIC COUNT ACKLOG: values "java-I" to partition I % 3, idempotently. */
public class Produce {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int count = Integer.parseInt(args[2]);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "1024");           // small batches: many Produce requests, many lost acks
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "100"); // 1 in 10 connections dropped: keep back-off short
        p.put(ProducerConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "100");
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Path.of(args[3])));
             KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < count; i++) {
                String value = "java-" + i;
                int partition = i % 3;
                producer.send(new ProducerRecord<>(topic, partition, null, value), (md, e) -> {
                    synchronized (out) {  // callbacks run on the I/O thread, in send order per partition
                        out.println(e == null
                            ? String.format("{\"value\":\"%s\",\"partition\":%d,\"offset\":%d}", value, md.partition(), md.offset())
                            : String.format("{\"value\":\"%s\",\"partition\":%d,\"error\":\"%s\"}", value, partition,
                                            e.toString().replace("\\", "\\\\").replace("\"", "'")));
                    }
                });
            }
            producer.flush();
        }
    }
}
