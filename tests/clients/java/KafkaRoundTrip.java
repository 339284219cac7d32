// Apache Kafka's own Java client (org.apache.kafka:kafka-clients, from Maven Central via
// `make kafka`) producing and consuming through a broker: the test runs it with
//
//     java -cp '.tools/kafka/libs/*' tests/clients/java/KafkaRoundTrip.java BOOTSTRAP TOPIC N
//
// It sends N records with acks=all and idempotence on, then reads the topic back as a
// member of a consumer group, committing as it goes, and prints one JSON line per
// record sent ("sent") and read ("read"), then the group's committed offsets.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaRoundTrip {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int count = Integer.parseInt(args[2]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)));
            }
            for (int i = 0; i < count; i++) {
                RecordMetadata m = sent.get(i).get();
                System.out.printf("{\"f\": \"sent\", \"value\": \"v%d\", \"partition\": %d, \"offset\": %d}%n", i, m.partition(), m.offset());
            }
        }
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", "java-" + topic);
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            int read = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (read < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    System.out.printf("{\"f\": \"read\", \"value\": \"%s\", \"partition\": %d, \"offset\": %d}%n", r.value(), r.partition(), r.offset());
                    read++;
                }
                consumer.commitSync();
            }
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(consumer.assignment());
            StringBuilder out = new StringBuilder("{\"f\": \"committed\", \"offsets\": {");
            String sep = "";
            TreeMap<Integer, Long> byPartition = new TreeMap<>();
            committed.forEach((tp, o) -> byPartition.put(tp.partition(), o == null ? -1L : o.offset()));
            for (Map.Entry<Integer, Long> e : byPartition.entrySet()) {
                out.append(sep).append("\"").append(e.getKey()).append("\": ").append(e.getValue());
                sep = ", ";
            }
            System.out.println(out.append("}}"));
        }
    }
}
