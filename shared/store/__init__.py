"""MongoDB: the database and indexes, one repository module per collection, the point store and outbox."""
