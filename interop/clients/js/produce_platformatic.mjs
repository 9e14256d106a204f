// @platformatic/kafka 1.35.0 producer: node produce_platformatic.mjs BOOTSTRAP TOPIC COUNT ACKLOG
// Values "platformatic-<i>" to partition i % 3. send() resolves with one base offset per
// partition, and the producer's sequence numbers advance only when a send() resolves, so the
// sends are sequential, CHUNK records each; a record's offset is its partition's base offset
// plus its place among that partition's records in the chunk.
import fs from 'node:fs'
import { Producer, stringSerializers } from '@platformatic/kafka'

const [bootstrap, topic, count, acklog] = process.argv.slice(2)
const CHUNK = 60 // small requests: many Produce requests, many lost acks

const producer = new Producer({
  clientId: 'idem-matrix',
  bootstrapBrokers: [bootstrap],
  idempotent: true, // acks=all, retries unlimited
  retryDelay: 50, // lost acks: retry soon
  serializers: stringSerializers
})
const out = fs.createWriteStream(acklog)
for (let start = 0; start < Number(count); start += CHUNK) {
  const messages = []
  for (let i = start; i < Math.min(start + CHUNK, Number(count)); i++) {
    messages.push({ topic, value: `platformatic-${i}`, partition: i % 3 })
  }
  try {
    const res = await producer.send({ messages })
    const base = new Map(res.offsets.map(o => [o.partition, o.offset]))
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
await producer.close()
