import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Read BOOTSTRAP TOPIC OUT: every record up to the end offsets (assign + seek, no group), as JSON lines. */
public class Read {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Path.of(args[2])));
             KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(args[1]).stream()
                .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) throw new RuntimeException("timed out before the end offsets " + end);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofSeconds(1))) {
                    if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition())))
                        out.printf("{\"partition\":%d,\"offset\":%d,\"value\":\"%s\"}%n", r.partition(), r.offset(), r.value());
                }
            }
        }
    }
}
