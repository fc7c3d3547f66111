"""The event side of the plane: Kombu on RabbitMQ (or an embedded transport), one queue per consumer."""
