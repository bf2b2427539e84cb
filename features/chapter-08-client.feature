@chapter-08 @serial
Feature: Chapter 8, a client of the cluster
  The client is given a few addresses of the cluster's servers and finds the
  rest by asking them. It sends what it produces to the leader and spreads
  what it reads over the followers; when the leader dies it carries on with
  the new one, and every record it produced is in the log exactly once.

  Scenario: The client finds every server from one seed
    Given a cluster of 3 servers
    When a client connects with the address of one follower only
    Then the client knows all 3 servers and which one leads

  Scenario: Produces go to the leader, reads to the followers
    Given a cluster of 3 servers
    And a client of the cluster
    When the client produces 20 records and reads each of them twice
    Then the leader served all 20 produces and none of the reads
    And each follower served 20 reads

  Scenario: A stream of records survives the death of the leader
    Given a cluster of 3 servers
    And a client of the cluster
    When the client streams 3000 records and the leader is killed with SIGKILL after 1000
    Then the client got 3000 offsets, from 0 to 2999, in order
    And every running server holds the 3000 records once each, in the order they were sent

  Scenario: A first seed that is down does not matter
    Given a cluster of 3 servers
    When a client connects with a dead address first, then the address of a server
    Then the client's first produce gets offset 0
