# frozen_string_literal: true

require "json"

# A Rack app that says hello and reports its environment.
class HelloApp
  def call(env)
    request = Rack::Request.new(env)
    name = request.params.fetch("name", "world")
    body = JSON.generate(greeting: "Hello, #{name}!", rack_env: ENV.fetch("RACK_ENV", "unset"))
    [200, { "content-type" => "application/json" }, [body]]
  end
end
