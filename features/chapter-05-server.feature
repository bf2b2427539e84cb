Feature: Chapter 5, the production server
  One binary, proglog, serves the log over mutual TLS with the ACL in front,
  and is its own client. It stops without losing what it acknowledged,
  tells a load balancer whether it is serving, and counts what it does.

  Scenario: Produce and consume through the command line
    Given proglog serve is running with "--dev"
    When I run proglog produce "hello" "world"
    Then it prints the offsets 0 and 1
    When I run proglog consume from offset 0
    Then it prints "0	hello" and "1	world"

  Scenario: A restart after SIGTERM keeps every record
    Given proglog serve is running with "--dev"
    And 200 records were produced through the command line
    When the server is sent SIGTERM
    Then it exits with status 0
    When proglog serve is started again on the same data
    Then consuming from offset 0 prints all 200 records

  Scenario: After SIGKILL under load with --sync always, every acknowledged record survives
    Given proglog serve is running with "--dev --sync always"
    And 4 clients are producing records as fast as they can
    When the server is sent SIGKILL
    And proglog serve is started again on the same data
    Then every offset the clients were given reads back identical

  Scenario: nobody is denied
    Given proglog serve is running with "--dev"
    When nobody runs proglog produce "let me in"
    Then the command fails with "PERMISSION_DENIED: nobody is not permitted to produce to *"

  Scenario: A client without a certificate is refused
    Given proglog serve is running with "--dev"
    When a client without a certificate tries to produce
    Then the client is refused at the handshake

  Scenario: Health reports SERVING
    Given proglog serve is running with "--dev"
    Then gRPC health reports SERVING for "log.v1.Log"

  Scenario: The metrics endpoint counts the records appended
    Given proglog serve is running with "--dev" and metrics
    When I run proglog produce "one" "two" "three"
    Then the metrics say 3 records were appended

  Scenario: A bad configuration exits non-zero with one clear line
    When I run proglog serve with "--dev --sync sometimes"
    Then the command fails with "--sync: unknown sync policy"
