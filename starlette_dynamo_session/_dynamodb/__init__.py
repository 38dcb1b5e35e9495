"""The DynamoDB wing: ``DynamoStore`` and what it is made of (the item layout, the requests, error translation, the
users' index, sealing, the doctor and the command line)."""
