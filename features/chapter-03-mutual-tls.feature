Feature: Chapter 3, mutual TLS
  The server encrypts every connection, proves its name with a certificate,
  and serves only clients whose certificates its CA signed. The Common Name
  of a client's certificate is who the server believes is calling.

  Background:
    Given a log server that requires client certificates signed by the development CA

  Scenario: A client with a trusted certificate is served and identified
    When the "root" client produces "over mutual TLS"
    Then it is told offset 0
    And the server identified the caller as "root"

  Scenario Outline: A client without a trusted certificate is refused
    When a client presenting <certificate> tries to produce
    Then the client is refused
    And nothing was written to the log

    Examples:
      | certificate                       |
      | "no certificate"                  |
      | "a certificate from another CA"   |
      | "an expired certificate"          |
