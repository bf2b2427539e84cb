@chapter-09 @serial
Feature: Chapter 9, the production cluster
  The one `proglog` binary runs a cluster of servers that a user starts
  from the command line. Producers and consumers talk to any server; when
  the leader dies or is cut off, the others elect a new one, and no record
  a producer was told is stored is ever lost or stored twice.

  Scenario: Three servers form a cluster from the command line
    Given three proglog servers started with --bootstrap-expect 3
    When "proglog produce" sends "hello" to the third server
    Then "proglog consume" from the second server prints offset 0 with "hello"
    And "proglog cluster status" lists the 3 servers, one of them the leader

  Scenario: The leader is killed, and nothing acknowledged is lost
    Given three proglog servers started with --bootstrap-expect 3
    And producers and a consumer of the cluster
    When the leading proglog server is killed with SIGKILL
    Then "proglog cluster status" names another server as the leader
    And the cluster takes writes again
    When the killed server is started again
    Then it catches up with the others
    And no acknowledged record is lost or stored twice, on any server

  Scenario: A leader cut off by a partition rejoins, and nothing is lost
    Given three proglog servers started with --bootstrap-expect 3, each under its own group id
    And producers and a consumer of the cluster
    When the leader is cut off from the others by a network partition
    Then "proglog cluster status" names another server as the leader
    And the cluster takes writes again
    When the partition heals
    Then the old leader catches up with the others
    And no acknowledged record is lost or stored twice, on any server
