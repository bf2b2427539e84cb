Feature: Chapter 2, the log as a gRPC service
  Programs write to the log and follow it over gRPC. Each record produced
  gets its offset back; a follower is sent new records as they are appended;
  and every error carries a status code and details a program can act on.

  Background:
    Given a log server listening on 127.0.0.1

  Scenario: Produce a record and consume it
    When a client produces "hello, service"
    Then the client is told offset 0
    And consuming offset 0 returns "hello, service"

  Scenario: A stream of records gets ordered offsets
    When a client streams the records "one", "two" and "three"
    Then the stream answers with offsets 0, 1 and 2
    And consuming offset 2 returns "three"

  Scenario: A follower receives a record produced after it subscribed
    Given a client follows the log from offset 0
    When a client produces "breaking news"
    Then the follower receives "breaking news" at offset 0

  Scenario: Reading past the end is reported as out of range, with the offsets in the details
    Given a client streams the records "a", "b" and "c"
    When a client consumes offset 7
    Then the call fails with code OUT_OF_RANGE
    And the error details say reason OFFSET_OUT_OF_RANGE, offset 7, lowest offset 0 and next offset 3

  Scenario: An oversized record is refused
    When a client produces a record one byte over the 1 MiB maximum
    Then the call fails with code INVALID_ARGUMENT
    And the error details name the field "record.value"
    And the log holds no records
