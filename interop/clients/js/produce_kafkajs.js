// kafkajs 2.2.4 producer: node produce_kafkajs.js BOOTSTRAP TOPIC COUNT ACKLOG
// Values "kafkajs-<i>" to partition i % 3. kafkajs sends one Produce request per send() and
// reports a base offset per partition, so each send() carries CHUNK records and a record's offset
// is its partition's base offset plus its place among that partition's records in the chunk.
const fs = require('fs')
const { Kafka, Partitioners, logLevel } = require('kafkajs')

const [bootstrap, topic, count, acklog] = process.argv.slice(2)
const CHUNK = 60 // small requests: many Produce requests, many lost acks

async function main () {
  const kafka = new Kafka({
    clientId: 'idem-matrix',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 50, maxRetryTime: 200 } // lost acks: retry soon (retries stay unlimited)
  })
  // kafkajs requires maxInFlightRequests: 1 for idempotence
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner // unused (explicit partitions); silences a v2 warning
  })
  await producer.connect()
  const out = fs.createWriteStream(acklog)
  for (let start = 0; start < Number(count); start += CHUNK) {
    const messages = []
    for (let i = start; i < Math.min(start + CHUNK, Number(count)); i++) {
      messages.push({ value: `kafkajs-${i}`, partition: i % 3 })
    }
    try {
      const res = await producer.send({ topic, messages, acks: -1 })
      const base = new Map(res.map(r => [r.partition, BigInt(r.baseOffset)]))
      const seen = new Map()
      for (const m of messages) {
        const k = seen.get(m.partition) ?? 0n
        seen.set(m.partition, k + 1n)
        out.write(JSON.stringify({ value: m.value, partition: m.partition, offset: Number(base.get(m.partition) + k) }) + '\n')
      }
    } catch (e) {
      for (const m of messages) out.write(JSON.stringify({ value: m.value, partition: m.partition, error: String(e) }) + '\n')
    }
  }
  await new Promise(resolve => out.end(resolve))
  await producer.disconnect()
}

main().catch(e => { console.error(e); process.exit(1) })
