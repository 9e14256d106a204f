package main

import (
	"context"
	"log"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	// Franz-go enables idempotence by default!
	// But here is how you ensure it is set.
	client, err := kgo.NewClient(
		kgo.SeedBrokers("localhost:9092"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	record := &kgo.Record{Topic: "orders", Value: []byte("Order-123")}

	client.Produce(context.Background(), record, func(_ *kgo.Record, err error) {
		defer wg.Done()
		if err != nil {
			log.Printf("Failed to produce: %v", err)
		} else {
			log.Println("Produced successfully!")
		}
	})
	wg.Wait()
}
