Feature: Chapter 4, authorization
  Authentication says who is calling; the ACL says what they may do. Anyone
  the policy does not name may do nothing.

  Scenario: root produces and consumes
    Given an authorizing log server with the repository's ACL
    When the "root" client produces "hello"
    Then it is told offset 0
    And the "root" client reads "hello" at offset 0

  Scenario: nobody is denied both producing and consuming
    Given an authorizing log server with the repository's ACL
    And the "root" client produces "already here"
    When the "nobody" client tries to produce "let me in"
    Then the call is denied with "nobody is not permitted to produce to *"
    When the "nobody" client tries to consume offset 0
    Then the call is denied with "nobody is not permitted to consume to *"
    And the log holds 1 record

  Scenario: A consume-only subject can read but not write
    Given an authorizing log server whose policy also lets "nobody" consume
    And the "root" client produces "public notice"
    Then the "nobody" client reads "public notice" at offset 0
    When the "nobody" client tries to produce "graffiti"
    Then the call is denied with "nobody is not permitted to produce to *"
    And the log holds 1 record
