"""Small applications that tests run in separate processes."""
