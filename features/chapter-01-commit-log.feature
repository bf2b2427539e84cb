Feature: Chapter 1, the commit log
  A commit log keeps records in the order they were appended, names each by
  its offset, and gives each back byte for byte: after a restart, after a
  crash, and never with damaged bytes passed off as data.

  Background:
    Given an empty log whose stores hold 64 bytes

  Scenario: Append records and read them back
    When I append "hello" and "world"
    Then offset 0 holds "hello"
    And offset 1 holds "world"

  Scenario: Reading past the end is an error, not an empty record
    When I append "the only record"
    Then reading offset 1 fails with "offset 1 is out of range: the log holds offsets 0..1"

  Scenario: Reopening the log keeps every record
    When I append 5 records
    And the log is closed and reopened
    Then the log holds exactly the 5 records
    And the next append gets offset 5

  Scenario: A torn tail is cut off after a crash, and appends continue
    Given 3 records were appended
    When the process dies in the middle of writing another record
    And the log is reopened
    Then recovery reports that it cut a torn write
    And the log holds exactly the 3 records
    And the next append gets offset 3

  Scenario: A corrupted sealed segment is reported, not served
    Given 5 records were appended
    When a bit flips in the second record of "00000000000000000000.store"
    Then opening the log fails with "corrupt log file" naming "00000000000000000000.store" at byte 22
