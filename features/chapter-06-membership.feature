@chapter-06
Feature: Chapter 6, membership by gossip
  Servers find each other by gossip over UDP: each learns who is in the
  cluster and where each member serves gRPC, and hears when a member joins,
  leaves or fails. Gossip is unauthenticated, so what it says is a hint for
  a server to check, never an authority.

  Scenario: Members join through any member and see each other
    Given member "a" is running alone
    When "b" joins through "a"
    And "c" joins through "b"
    Then every member sees "a", "b" and "c" with their gRPC addresses

  Scenario: A member that leaves is seen to leave, not to fail
    Given members "a", "b" and "c" see each other
    When "c" leaves the cluster
    Then "a" and "b" see "c" leave

  Scenario: A member killed with SIGKILL is seen to fail
    Given members "a" and "b", and "c" in a process of its own, see each other
    When the process of "c" is killed with SIGKILL
    Then "a" and "b" see "c" fail

  Scenario: A member started again with the same id rejoins
    Given members "a" and "b", and "c" in a process of its own, see each other
    When the process of "c" is killed with SIGKILL
    And "c" is started again in a process of its own, with the same id
    Then "a" and "b" see "c" join again, as a new run
