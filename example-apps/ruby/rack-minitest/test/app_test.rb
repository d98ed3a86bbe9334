# frozen_string_literal: true

require "minitest/autorun"
require "rack"
require "rack/mock"
require_relative "../app"

class HelloAppTest < Minitest::Test
  def setup
    @request = Rack::MockRequest.new(HelloApp.new)
  end

  def test_greets_the_world
    response = @request.get("/")
    assert_equal 200, response.status
    assert_includes response.body, "Hello, world!"
  end

  def test_greets_by_name
    assert_includes @request.get("/?name=Ruby").body, "Hello, Ruby!"
  end

  def test_runs_in_the_test_environment
    assert_equal "test", ENV["RACK_ENV"]
  end
end
