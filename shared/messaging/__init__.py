"""RabbitMQ: queue names, the confirming publisher, the hand-overs between steps, and Amazon MQ events."""
