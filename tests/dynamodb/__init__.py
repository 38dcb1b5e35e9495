"""DynamoDB: the store's contract, the end-to-end flows and the users' sessions, on each case of the ``store`` fixture
(moto and DynamoDB Local; the tests marked ``every_transport`` on each transport case too), and the store's tools."""
