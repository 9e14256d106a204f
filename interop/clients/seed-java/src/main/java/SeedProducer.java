import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The seed's Java producer: exactly the seed's Properties (only the bootstrap address may differ:
 * env BOOTSTRAP, default the seed's localhost:9092). The serializers are given to the constructor,
 * so the Properties stay the seed's four lines.
 */
public class SeedProducer {
    public static void main(String[] args) throws Exception {
        String bootstrap = System.getenv().getOrDefault("BOOTSTRAP", "localhost:9092");

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);

        // Explicitly enable idempotence (Default in modern Kafka)
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");

        // These are implied, but good to be explicit
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.RETRIES_CONFIG, Integer.toString(Integer.MAX_VALUE));

        try (KafkaProducer<String, String> producer =
                 new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            RecordMetadata md = producer.send(new ProducerRecord<>("orders", "Order-123")).get();
            System.out.println("Produced successfully! " + md
                + " topic=" + md.topic() + " partition=" + md.partition() + " offset=" + md.offset());
        }
    }
}
