@chapter-07 @serial
Feature: Chapter 7, replication with consensus
  Three servers keep one log with Raft: one leads, appends what clients
  produce, and answers once a majority has it on disk; every server serves
  reads of what is committed; when the leader dies, the others elect a new
  one and lose nothing that was acknowledged. Each server here is a real
  process on its own ports of 127.0.0.1, and they talk over mutual TLS.

  Scenario: Records produced to the leader are on every server at the same offsets
    Given a cluster of 3 servers
    When 50 records are produced to the leader
    Then the leader acknowledged them at offsets 0 to 49
    And every server holds the 50 records at the same offsets

  Scenario: A follower serves reads, and refuses writes with the leader's address
    Given a cluster of 3 servers
    And 10 records were produced to the leader
    Then a follower serves the 10 records
    And a record produced to a follower is refused with NOT_LEADER and the leader's address
    And the refused record was not appended

  Scenario: The leader is killed and a new one takes over, losing nothing
    Given a cluster of 3 servers
    And 20 records were produced to the leader
    When the leader is killed with SIGKILL
    Then one of the other two servers leads
    And 20 more records produced to the new leader are acknowledged at offsets 20 to 39
    And every running server holds the 40 records at the same offsets

  Scenario: A server that was down rejoins and catches up
    Given a cluster of 3 servers
    When a follower is killed with SIGKILL
    And 30 records are produced to the leader
    And the follower is started again on its data
    Then the follower holds the 30 records at the same offsets as the leader
