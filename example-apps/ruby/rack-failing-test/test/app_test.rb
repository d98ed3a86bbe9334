# frozen_string_literal: true

require "minitest/autorun"
require "rack"
require "rack/mock"
require_relative "../app"

# This app is meant to fail its tests: the example test image's `test` process exits non-zero.
class HelloAppTest < Minitest::Test
  def test_greets_the_world
    assert_includes Rack::MockRequest.new(HelloApp.new).get("/").body, "Hello, world!"
  end

  def test_says_goodbye
    assert_includes Rack::MockRequest.new(HelloApp.new).get("/").body, "Goodbye",
                    "deliberately failing test"
  end
end
